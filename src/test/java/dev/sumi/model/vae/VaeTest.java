package dev.sumi.model.vae;

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
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The tiny VAE against diffusers' AutoencoderKL (fixture by scripts/golden-vae): the posterior's mean and
 * logvar of a batch of 2 images of 3 x 24 x 20, and the decoded image of 2 latents of 4 x 12 x 10, on the
 * host device in F32.
 *
 * <p>Budgets (flash-attention's rule, docs/ops.md): the fixture holds the float64 PyTorch result (the
 * truth, rounded to float32 for storage) and, in its metadata, how far a plain float32 PyTorch run of the
 * same network lies from it (the baseline). sumi computes in float32 too, with other summation orders
 * (im2col GEMMs, its own GroupNorm and softmax), so its error must be within 2 x the baseline, plus a floor
 * of 4 float ulps of the tensor's largest |truth|: the storage rounding of the truth is half an ulp, and a
 * small tensor's baseline could be near zero by luck.
 */
class VaeTest {

    static final String FIXTURE = "/golden/vae_tiny.safetensors";
    static final int BATCH = 2, H = 24, W = 20;

    @TempDir
    static Path dir;

    static SafeTensorsFile fixture;
    static TinyModelGolden golden;
    static Checkpoint checkpoint;
    static final VaeConfig CONFIG = VaeConfig.tiny();

    @BeforeAll
    static void setUp() throws Exception {
        golden = TinyModelGolden.open(FIXTURE, dir, "scripts/golden-vae", "vae");
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
    void matchesDiffusersEncodeAndDecode() throws Exception {
        int h = H / CONFIG.downscale(), w = W / CONFIG.downscale(), z = CONFIG.zChannels();
        try (Vae vae = Vae.load(checkpoint, CONFIG, Devices.host(), DType.F32, BATCH, H, W);
             Tensor image = Tensor.fromFloats(Devices.host(), DType.F32, fixture.readFloats("image"), BATCH, 3, H, W);
             Tensor latents = Tensor.fromFloats(Devices.host(), DType.F32, fixture.readFloats("latents"), BATCH, z, h, w)) {
            assertEquals(h, vae.latentHeight());
            assertEquals(w, vae.latentWidth());
            double worst = 0;
            for (int pass = 0; pass < 2; pass++) {   // the second pass reuses every buffer: same results, no allocation
                long free = Devices.host().memoryInfo().free();
                Tensor[] posterior = vae.encode(image);
                Tensor decoded = vae.decode(latents);
                assertEquals(free, Devices.host().memoryInfo().free(), "encode and decode allocate nothing on the device");
                worst = Math.max(worst, compare("mean", posterior[0].toFloats()));
                worst = Math.max(worst, compare("logvar", posterior[1].toFloats()));
                worst = Math.max(worst, compare("decoded", decoded.toFloats()));
            }
            System.out.printf("vae: worst error %.0f%% of its budget%n", 100 * worst);
        }
    }

    @Test
    void sampleIsSeededAndUsesTheStandardDeviation() throws Exception {
        float[] m = {0f, 1f, -2f, 0.5f}, lv = {0f, (float) Math.log(4), -100f, 100f};
        try (Tensor mean = Tensor.fromFloats(Devices.host(), DType.F32, m, 1, 1, 2, 2);
             Tensor logvar = Tensor.fromFloats(Devices.host(), DType.F32, lv, 1, 1, 2, 2);
             Tensor out = Tensor.allocate(Devices.host(), DType.F32, 1, 1, 2, 2)) {
            Vae.sample(out, mean, logvar, new Random(7));
            float[] a = out.toFloats();
            Random r = new Random(7);
            double[] std = {1, 2, Math.exp(-15), Math.exp(10)};   // logvar clamped to [-30, 20]
            for (int i = 0; i < 4; i++) assertEquals(m[i] + std[i] * r.nextGaussian(), a[i], 1e-6 * Math.max(1, Math.abs(a[i])));
            Vae.sample(out, mean, logvar, new Random(7));
            assertArrayEquals(a, out.toFloats());
        }
    }

    @Test
    void rejectsWrongInputs() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> Vae.load(checkpoint, CONFIG, Devices.host(), DType.F32, 1, 23, 20));
        try (Vae vae = Vae.load(checkpoint, CONFIG, Devices.host(), DType.F32, 1, H, W);
             Tensor image = Tensor.allocate(Devices.host(), DType.F32, 2, 3, H, W);
             Tensor latents = Tensor.allocate(Devices.host(), DType.F32, 1, 4, H, W)) {
            assertThrows(IllegalArgumentException.class, () -> vae.encode(image));     // batch 2 into a batch-1 VAE
            assertThrows(IllegalArgumentException.class, () -> vae.decode(latents));   // latents of the image's size
        }
    }
}
