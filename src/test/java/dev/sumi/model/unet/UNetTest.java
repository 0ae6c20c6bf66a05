package dev.sumi.model.unet;

import dev.sumi.model.Checkpoint;
import dev.sumi.model.ModelHashes;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.testing.TinyModelGolden;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The tiny UNet (UNetConfig.tiny(64)) against diffusers' UNet2DConditionModel (fixture by scripts/golden-unet):
 * forward for batch 2, latents 4x16x12, timesteps [1, 999], context (2, 77, 64), and the backward of
 * loss = sum(out * G): d loss / d latents and the Linear gradients of three transformers, on the host device in F32.
 *
 * <p>Budget (flash-attention's rule, docs/ops.md): the fixture holds the float64 PyTorch output (the truth,
 * rounded to float32 for storage) and, in its metadata, how far a plain float32 PyTorch run of the same
 * network lies from it (the baseline, 1.2e-6 at max |out| 1.4). sumi computes in float32 too, with other
 * summation orders (im2col GEMMs, flash attention, rank-1 GEMMs for the per-channel adds), so its error must
 * be within 2 x the baseline, plus a floor of 4 float ulps of the largest |truth| (the truth's storage
 * rounding is half an ulp; the floor keeps a lucky, tiny baseline from making the budget meaningless).
 */
class UNetTest {

    static final String FIXTURE = "/golden/unet_tiny.safetensors";
    static final int BATCH = 2, H = 16, W = 12, T = 77, CONTEXT = 64;

    @TempDir
    static Path dir;

    static SafeTensorsFile fixture;
    static TinyModelGolden golden;
    static Checkpoint checkpoint;
    static final UNetConfig CONFIG = UNetConfig.tiny(CONTEXT);

    @BeforeAll
    static void setUp() throws Exception {
        golden = TinyModelGolden.open(FIXTURE, dir, "scripts/golden-unet", "unet");
        fixture = golden.fixture;
        checkpoint = golden.checkpoint;
    }

    @AfterAll
    static void tearDown() {
        if (golden != null) golden.close();
    }

    static double compare(String name, float[] got) throws Exception {
        return golden.compare(name, got);
    }

    @Test
    void matchesDiffusersForward() throws Exception {
        var host = Devices.host();
        try (UNet unet = UNet.load(checkpoint, CONFIG, host, DType.F32, BATCH, H, W, T);
             Tensor latents = Tensor.fromFloats(host, DType.F32, fixture.readFloats("latents"), BATCH, 4, H, W);
             Tensor timesteps = Tensor.fromFloats(host, DType.F32, fixture.readFloats("timesteps"), BATCH);
             Tensor context = Tensor.fromFloats(host, DType.F32, fixture.readFloats("context"), BATCH, T, CONTEXT)) {
            long free = host.memoryInfo().free();
            float[] first = unet.forward(latents, timesteps, context).toFloats();
            float[] second = unet.forward(latents, timesteps, context).toFloats();
            assertEquals(free, host.memoryInfo().free(), "forward allocates nothing on the device");
            assertArrayEquals(first, second, "a repeated forward is bit-identical");
            compare("out", first);
        }
    }

    @Test
    void matchesDiffusersBackward() throws Exception {
        var host = Devices.host();
        try (UNet unet = UNet.load(checkpoint, CONFIG, host, DType.F32, BATCH, H, W, T);
             Tensor latents = Tensor.fromFloats(host, DType.F32, fixture.readFloats("latents"), BATCH, 4, H, W);
             Tensor timesteps = Tensor.fromFloats(host, DType.F32, fixture.readFloats("timesteps"), BATCH);
             Tensor context = Tensor.fromFloats(host, DType.F32, fixture.readFloats("context"), BATCH, T, CONTEXT);
             Tensor dOut = Tensor.fromFloats(host, DType.F32, fixture.readFloats("dout"), BATCH, 4, H, W)) {
            long free = host.memoryInfo().free();
            unet.forward(latents, timesteps, context);
            float[] dLatents = unet.backward(dOut).toFloats();
            assertEquals(free, host.memoryInfo().free(), "forward and backward allocate nothing on the device");
            double worst = compare("dlatents", dLatents);
            int compared = 0;
            for (var g : unet.gradients().entrySet()) {
                String name = "grad." + g.getKey();
                if (!fixture.contains(name)) continue;   // the fixture holds three of the seven transformers
                worst = Math.max(worst, compare(name, g.getValue().toFloats()));
                compared++;
            }
            // 14 Linear tensors per transformer block (to_q/k/v weights, to_out weight + bias, x2; ff 2 x (weight + bias))
            assertEquals(3 * 14, compared, "gradients compared");
            assertEquals(7 * 14, unet.gradients().size(), "attention / feed-forward gradients of the tiny UNet");
            System.out.printf("unet backward: worst error %.0f%% of its budget%n", 100 * worst);

            // backward accumulates (+=) into the Linear gradients: a second backward of the same forward doubles them
            String probe = "middle_block.1.transformer_blocks.0.attn2.to_k.weight";
            float[] once = unet.gradients().get(probe).toFloats();
            unet.backward(dOut);
            float[] twice = unet.gradients().get(probe).toFloats();
            for (int i = 0; i < once.length; i++) {
                if (Math.abs(twice[i] - 2 * once[i]) > 2 * Math.ulp(Math.abs(2 * once[i]))) fail("backward does not accumulate at " + i);
            }
        }
    }

    @Test
    void rejectsWrongInputs() throws Exception {
        var host = Devices.host();
        assertThrows(IllegalArgumentException.class, () -> UNet.load(checkpoint, CONFIG, host, DType.F32, 1, 15, 12, T));   // h not even
        try (UNet unet = UNet.load(checkpoint, CONFIG, host, DType.F32, 1, H, W, T);
             Tensor latents = Tensor.allocate(host, DType.F32, 2, 4, H, W);
             Tensor timesteps = Tensor.allocate(host, DType.F32, 1);
             Tensor context = Tensor.allocate(host, DType.F32, 1, T, CONTEXT)) {
            assertThrows(IllegalStateException.class, () -> unet.backward(latents));                         // no forward yet
            assertThrows(IllegalArgumentException.class, () -> unet.forward(latents, timesteps, context));   // batch 2 into a batch-1 UNet
        }
    }
}
