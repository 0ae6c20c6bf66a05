package dev.sumi.model;

import dev.sumi.model.Checkpoint.Part;
import dev.sumi.model.Checkpoint.TensorRef;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.HostConvert;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.SafeTensorsWriter;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

class WeightLoaderTest {

    @TempDir
    Path dir;

    static float[] iota(int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (i - n / 2f) * scale;
        return v;
    }

    @Test
    void streamsInChunksConvertingOnTheWay() throws IOException {
        Path p = dir.resolve("w.safetensors");
        float[] x = iota(1000, 0.001f);
        new SafeTensorsWriter().addFloats("w", StoredType.F32, new long[] {10, 100}, x).write(p, false);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            TensorRef ref = new TensorRef("w", new long[] {10, 100}, List.of(new Part(f, f.get("w"), KeyMap.Transform.IDENTITY)));
            for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                try (Tensor out = WeightLoader.load(ref, Devices.host(), t, 77)) {   // 77: chunks that do not divide the tensor
                    float[] want = new float[x.length];
                    for (int i = 0; i < x.length; i++) want[i] = HostConvert.roundTo(t, x[i]);
                    assertArrayEquals(want, out.toFloats(), t.toString());
                }
            }
        }
    }

    @Test
    void stacksQkvPartsAndUndoesTransposes() throws IOException {
        Path p = dir.resolve("parts.safetensors");
        float[] q = iota(6, 1), k = iota(6, 10), v = iota(6, 100), proj = {1, 2, 3, 4, 5, 6};
        new SafeTensorsWriter().addFloats("q", StoredType.F16, new long[] {2, 3}, q).addFloats("k", StoredType.F16, new long[] {2, 3}, k)
                .addFloats("v", StoredType.F16, new long[] {2, 3}, v).addFloats("proj", StoredType.F32, new long[] {2, 3}, proj).write(p, false);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            TensorRef qkv = new TensorRef("in_proj_weight", new long[] {6, 3}, List.of(
                    new Part(f, f.get("q"), KeyMap.Transform.qkv(0)), new Part(f, f.get("k"), KeyMap.Transform.qkv(1)),
                    new Part(f, f.get("v"), KeyMap.Transform.qkv(2))));
            try (Tensor out = WeightLoader.load(qkv, Devices.host(), DType.F32, 4)) {
                float[] want = new float[18];
                System.arraycopy(q, 0, want, 0, 6);
                System.arraycopy(k, 0, want, 6, 6);
                System.arraycopy(v, 0, want, 12, 6);
                assertArrayEquals(want, out.toFloats());
            }
            TensorRef t = new TensorRef("text_projection", new long[] {3, 2}, List.of(new Part(f, f.get("proj"), KeyMap.Transform.TRANSPOSE)));
            try (Tensor out = WeightLoader.load(t, Devices.host(), DType.F32, 1 << 20)) {
                assertArrayEquals(new float[] {1, 4, 2, 5, 3, 6}, out.toFloats());
            }
        }
    }
}
