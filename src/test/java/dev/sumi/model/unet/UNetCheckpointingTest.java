package dev.sumi.model.unet;

import dev.sumi.device.Device;
import dev.sumi.device.HostDevice;
import dev.sumi.lora.Adapters;
import dev.sumi.lora.DeviceLora;
import dev.sumi.lora.LoraModule;
import dev.sumi.lora.LoraNetwork;
import dev.sumi.lora.LoraOptions;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Gradient checkpointing changes where a module's internals live and when they are computed, not a bit of the
 * result: on the tiny UNet with LoRA + LoCon on every site (ups nonzero), F32 and BF16, two forward / backward
 * steps give the same outputs, d latents, d context and LoRA gradients as the UNet that keeps every activation,
 * compared with float bit patterns (every kernel is deterministic on a device). The checkpointed UNet also
 * allocates less. The same check runs on a GPU in the gpu tier.
 */
class UNetCheckpointingTest {
    static final int B = 2, H = 8, W = 4, T = 5;

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;
    static TextEncoderConfig teConfig;
    static UNetConfig config;

    @BeforeAll
    static void setUp() throws Exception {
        Path ckpt = dir.resolve("tiny.safetensors");
        RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 2), 2, StoredType.F32, ckpt, false);
        checkpoint = Checkpoint.open(ckpt, null);
        teConfig = TextEncoderConfig.tiny(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 2).tokenizer().size());
        config = UNetConfig.tiny(teConfig.width());
    }

    @AfterAll
    static void tearDown() {
        if (checkpoint != null) checkpoint.close();
    }

    static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return v;
    }

    /** Per step: the output, d latents, d context; then every LoRA gradient after both steps (accumulated). */
    static List<float[]> run(Device device, UNet unet, DeviceLora lora, DType dtype, long seed) {
        Random r = new Random(seed);
        List<float[]> results = new ArrayList<>();
        lora.zeroGradients();
        for (int step = 0; step < 2; step++) {
            try (Tensor latents = Tensor.fromFloats(device, dtype, random(r, B * 4 * H * W), B, 4, H, W);
                 Tensor timesteps = Tensor.fromFloats(device, DType.F32, new float[] {17 + 400 * step, 911}, B);
                 Tensor context = Tensor.fromFloats(device, dtype, random(r, B * T * teConfig.width()), B, T, teConfig.width());
                 Tensor dOut = Tensor.fromFloats(device, dtype, random(r, B * 4 * H * W), B, 4, H, W);
                 Tensor dContext = Tensor.allocate(device, dtype, B, T, teConfig.width())) {
                results.add(unet.forward(latents, timesteps, context).toFloats());
                results.add(unet.backward(dOut, dContext).toFloats());
                results.add(dContext.toFloats());
            }
        }
        for (Tensor g : lora.gradients()) results.add(g.toFloats());
        return results;
    }

    static void assertBitEqual(String what, List<float[]> expected, List<float[]> got) {
        assertEquals(expected.size(), got.size(), what);
        boolean nonzero = false;
        for (int i = 0; i < expected.size(); i++) {
            float[] e = expected.get(i), g = got.get(i);
            assertEquals(e.length, g.length, what + " #" + i);
            for (int j = 0; j < e.length; j++) {
                nonzero |= e[j] != 0;
                if (Float.floatToRawIntBits(e[j]) != Float.floatToRawIntBits(g[j])) {
                    throw new AssertionError(what + " result #" + i + "[" + j + "]: kept " + e[j] + ", checkpointed " + g[j]);
                }
            }
        }
        assertTrue(nonzero, what + ": everything is zero");
    }

    @Test
    void loraAndLoconResultsAreBitEqualAndTheCheckpointedUNetIsSmaller() {
        loraAndLoconResultsAreBitEqual(Devices.host());
    }

    @Test
    @Tag("gpu")
    void loraAndLoconResultsAreBitEqualOnCuda() {
        loraAndLoconResultsAreBitEqual(Devices.cuda());
    }

    /** On the host device also: the checkpointed UNet allocates less (the host counts every allocation exactly). */
    static void loraAndLoconResultsAreBitEqual(Device device) {
        LoraNetwork net = LoraNetwork.create(new LoraOptions(3, 2, 2, 1, true, false, 1, 7), Lineage.SD1, config, teConfig);
        Random r = new Random(9);
        for (LoraModule m : net.modules()) {
            float[] up = random(r, (int) m.upCount());
            for (int i = 0; i < up.length; i++) up[i] *= 0.2f;
            net.set(m.kohyaName(), net.export().get(m.kohyaName()).down(), up);
        }
        for (DType dtype : new DType[] {DType.F32, DType.BF16}) {
            try (DeviceLora lora = net.upload(device, dtype)) {
                Adapters adapters = lora.adapters(Component.UNET);
                List<float[]> kept, checkpointed;
                long keptBytes, checkpointedBytes;
                long before = device.memoryInfo().free();
                try (UNet unet = UNet.load(checkpoint, config, device, dtype, B, H, W, T, adapters, UNetOptions.DEFAULT)) {
                    keptBytes = before - device.memoryInfo().free();
                    kept = run(device, unet, lora, dtype, 21);
                }
                try (UNet unet = UNet.load(checkpoint, config, device, dtype, B, H, W, T, adapters, UNetOptions.CHECKPOINTED)) {
                    checkpointedBytes = before - device.memoryInfo().free();
                    checkpointed = run(device, unet, lora, dtype, 21);
                }
                System.out.printf("%s %s: UNet kept %d bytes, checkpointed %d bytes; %d results%n", device.name(), dtype, keptBytes, checkpointedBytes, kept.size());
                assertBitEqual(device.name() + " " + dtype + " LoRA + LoCon", kept, checkpointed);
                if (device instanceof HostDevice) {
                    assertEquals(before, device.memoryInfo().free(), dtype + ": everything freed");
                    assertTrue(checkpointedBytes < keptBytes, dtype + ": checkpointed " + checkpointedBytes + " bytes, kept " + keptBytes);
                }
            }
        }
    }

    @Test
    void linearGradientsAreBitEqual() {
        HostDevice host = Devices.host();
        DType dtype = DType.F32;
        List<float[]> results = new ArrayList<>();
        for (UNetOptions options : List.of(UNetOptions.DEFAULT, UNetOptions.CHECKPOINTED)) {
            try (UNet unet = UNet.load(checkpoint, config, host, dtype, B, H, W, T, Adapters.LINEAR_GRADIENTS, options);
                 Tensor latents = Tensor.fromFloats(host, dtype, random(new Random(4), B * 4 * H * W), B, 4, H, W);
                 Tensor timesteps = Tensor.fromFloats(host, DType.F32, new float[] {3, 500}, B);
                 Tensor context = Tensor.fromFloats(host, dtype, random(new Random(5), B * T * teConfig.width()), B, T, teConfig.width());
                 Tensor dOut = Tensor.fromFloats(host, dtype, random(new Random(6), B * 4 * H * W), B, 4, H, W)) {
                unet.forward(latents, timesteps, context);
                results.add(unet.backward(dOut).toFloats());
                for (Map.Entry<String, Tensor> g : unet.gradients().entrySet()) results.add(g.getValue().toFloats());
            }
        }
        int half = results.size() / 2;
        assertBitEqual("Linear gradients", results.subList(0, half), results.subList(half, results.size()));
    }
}
