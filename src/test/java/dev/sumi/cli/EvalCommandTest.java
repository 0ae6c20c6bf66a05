package dev.sumi.cli;

import dev.sumi.model.RandomCheckpoint;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.SafeTensorsWriter;
import dev.sumi.tensor.safetensors.StoredType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** sumi eval end to end on the tiny model: inputs from a file, outputs to a file, shapes and values sane. */
class EvalCommandTest {

    @TempDir
    static Path dir;
    static Path model;

    @BeforeAll
    static void tiny() throws Exception {
        model = dir.resolve("tiny.safetensors");
        RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 1), 1, StoredType.F32, model, false);
    }

    static float[] read(Path file, String name, long... shape) throws Exception {
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            assertArrayEquals(shape, f.get(name).shape(), name);
            float[] v = f.readFloats(name);
            for (float x : v) assertTrue(Float.isFinite(x), name + " has a non-finite value");
            return v;
        }
    }

    @Test
    void textEncoderWithClipSkip() throws Exception {
        Path in = dir.resolve("ids.safetensors");
        float[] ids = new float[2 * 77];
        for (int i = 0; i < ids.length; i++) ids[i] = i % 77 == 0 ? 680 : (i % 77 < 6 ? 300 + i % 77 : 681);   // BOS, a few tokens, EOS padding
        new SafeTensorsWriter().addFloats("input_ids", StoredType.I32, new long[] {2, 77}, ids).write(in, true);
        Path out1 = dir.resolve("hidden1.safetensors"), out2 = dir.resolve("hidden2.safetensors");
        CliTest.Run r1 = CliTest.run("eval", "text-encoder", "--model", model.toString(), "--inputs", in.toString(), "--out", out1.toString(), "--device", "host");
        assertEquals(0, r1.exit(), r1.err());
        CliTest.Run r2 = CliTest.run("eval", "text-encoder", "--model", model.toString(), "--inputs", in.toString(), "--out", out2.toString(),
                "--device", "host", "--clip-skip", "2");
        assertEquals(0, r2.exit(), r2.err());
        float[] h1 = read(out1, "hidden", 2, 77, 64), h2 = read(out2, "hidden", 2, 77, 64);
        assertTrue(!java.util.Arrays.equals(h1, h2), "clip skip 2 must differ from 1");
        CliTest.Run again = CliTest.run("eval", "text-encoder", "--model", model.toString(), "--inputs", in.toString(), "--out", out1.toString());
        assertNotEquals(0, again.exit());
        assertTrue(again.err().contains("exists"), again.err());
    }

    @Test
    void vaeEncodeThenDecode() throws Exception {
        Path in = dir.resolve("image.safetensors");
        float[] image = new float[1 * 3 * 16 * 12];
        for (int i = 0; i < image.length; i++) image[i] = (float) Math.sin(i * 0.1);
        new SafeTensorsWriter().addFloats("image", StoredType.F32, new long[] {1, 3, 16, 12}, image).write(in, true);
        Path posterior = dir.resolve("posterior.safetensors");
        CliTest.Run enc = CliTest.run("eval", "vae-encode", "--model", model.toString(), "--inputs", in.toString(), "--out", posterior.toString(), "--device", "host");
        assertEquals(0, enc.exit(), enc.err());
        float[] mean = read(posterior, "mean", 1, 4, 8, 6);
        read(posterior, "logvar", 1, 4, 8, 6);
        Path latents = dir.resolve("latents.safetensors");
        new SafeTensorsWriter().addFloats("latents", StoredType.F32, new long[] {1, 4, 8, 6}, mean).write(latents, true);
        Path decoded = dir.resolve("decoded.safetensors");
        CliTest.Run dec = CliTest.run("eval", "vae-decode", "--model", model.toString(), "--inputs", latents.toString(), "--out", decoded.toString(), "--device", "host");
        assertEquals(0, dec.exit(), dec.err());
        read(decoded, "image", 1, 3, 16, 12);
    }

    @Test
    void unet() throws Exception {
        Path in = dir.resolve("unet-in.safetensors");
        Random r = new Random(3);
        float[] lat = new float[2 * 4 * 8 * 6], ctx = new float[2 * 77 * 64];
        for (int i = 0; i < lat.length; i++) lat[i] = (float) r.nextGaussian();
        for (int i = 0; i < ctx.length; i++) ctx[i] = (float) r.nextGaussian();
        new SafeTensorsWriter().addFloats("latents", StoredType.F32, new long[] {2, 4, 8, 6}, lat)
                .addFloats("timesteps", StoredType.F32, new long[] {2}, new float[] {1, 999})
                .addFloats("context", StoredType.F32, new long[] {2, 77, 64}, ctx).write(in, true);
        Path out = dir.resolve("unet-out.safetensors");
        CliTest.Run run = CliTest.run("eval", "unet", "--model", model.toString(), "--inputs", in.toString(), "--out", out.toString(), "--device", "host");
        assertEquals(0, run.exit(), run.err());
        read(out, "out", 2, 4, 8, 6);
        Path bad = dir.resolve("unet-bad.safetensors");
        new SafeTensorsWriter().addFloats("latents", StoredType.F32, new long[] {2, 4, 8, 6}, lat)
                .addFloats("timesteps", StoredType.F32, new long[] {1}, new float[] {1})
                .addFloats("context", StoredType.F32, new long[] {2, 77, 64}, ctx).write(bad, true);
        CliTest.Run refused = CliTest.run("eval", "unet", "--model", model.toString(), "--inputs", bad.toString(), "--out", dir.resolve("x.safetensors").toString());
        assertNotEquals(0, refused.exit());
        assertTrue(refused.err().contains("batch size"), refused.err());
    }

    @Test
    void benchUnetRunsAForwardAndBackwardStep() {
        CliTest.Run r = CliTest.run("bench", "unet", model.toString(), "--device", "host", "--resolution", "32");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("outputs finite"), r.out());
    }
}
