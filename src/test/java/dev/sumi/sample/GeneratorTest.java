package dev.sumi.sample;

import dev.sumi.data.RgbImage;
import dev.sumi.device.Device;
import dev.sumi.device.HostDevice;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.model.clip.ClipTokenizer;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.safetensors.StoredType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pipeline on the tiny model on the host: seeds, guidance, batches, the VAE's F32 fallback and its tiles. */
class GeneratorTest {

    @TempDir
    static Path dir;
    static Path model;
    static Checkpoint checkpoint;
    static Device device;
    static ClipTokenizer tokenizer;
    static final List<String> notices = new ArrayList<>();
    static Generator generator;

    @BeforeAll
    static void open() throws Exception {
        model = dir.resolve("tiny.safetensors");
        RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 3), 3, StoredType.F32, model, false);
        checkpoint = Checkpoint.open(model, null);
        device = HostDevice.open();
        tokenizer = ClipTokenizer.locate(model, null);
        generator = new Generator(checkpoint, device, DType.F32, tokenizer, null, notices::add);
    }

    @AfterAll
    static void close() throws Exception {
        generator.close();
        device.close();
        checkpoint.close();
    }

    /** 32 px: 16 x 16 latents on the tiny model (f = 2), a fraction of a second per step on two cores. */
    static final int PX = 32;

    static GenerationRequest request(SamplerKind sampler, long seed, int batch, double cfg) {
        return new GenerationRequest("a red square", "blurry", sampler, 3, cfg, seed, PX, PX, batch, 1);
    }

    static int latentsPerImage(int px) {
        int side = px / generator.factor();
        return 4 * side * side;
    }

    @Test
    void theSameSeedDrawsTheSameImageAndAnotherSeedAnother() {
        RgbImage a = generator.generate(request(SamplerKind.EULER_A, 5, 1, 7)).images().getFirst().image();
        RgbImage b = generator.generate(request(SamplerKind.EULER_A, 5, 1, 7)).images().getFirst().image();
        RgbImage c = generator.generate(request(SamplerKind.EULER_A, 6, 1, 7)).images().getFirst().image();
        assertArrayEquals(a.rgb(), b.rgb());
        assertFalse(Arrays.equals(a.rgb(), c.rgb()));
    }

    @Test
    void imageIOfABatchIsTheImageOfSeedPlusI() {
        for (SamplerKind k : List.of(SamplerKind.EULER_A, SamplerKind.DPMPP_2M_KARRAS)) {   // the ancestral and the multistep one
            int per = latentsPerImage(PX);
            GenerationRequest two = request(k, 10, 2, 5);
            SeededNoise noise = new SeededNoise(10, 2, per);
            float[] batched = generator.sample(two, noise.initial(), noise, false).latents();
            SeededNoise alone = new SeededNoise(11, 1, per);
            float[] single = generator.sample(request(k, 11, 1, 5), alone.initial(), alone, false).latents();
            for (int i = 0; i < per; i++) assertEquals(single[i], batched[per + i], 1e-4 * (1 + Math.abs(single[i])), k + " element " + i);
        }
    }

    @Test
    void guidanceMovesAwayFromTheUnconditionalPrediction() {
        // cfg 1 is the conditional pass alone; cfg 0 would be the unconditional one: the three must differ, and
        // the guided output is linear in the scale: out(s) = u + s (c - u)
        int per = latentsPerImage(PX);
        float[][] out = new float[3][];
        double[] scales = {1.0, 3.0, 5.0};
        for (int i = 0; i < 3; i++) {
            SeededNoise n = new SeededNoise(1, 1, per);
            out[i] = generator.sample(new GenerationRequest("a red square", "blurry", SamplerKind.DDIM, 1, scales[i], 1, PX, PX, 1, 1), n.initial(), n, false).latents();
        }
        // DDIM's one step from t = 1 (leading spacing + offset 1) is linear in the model output, so is the result in s
        for (int j = 0; j < per; j++) {
            double expected = out[1][j] + (out[1][j] - out[0][j]);   // s = 5 is as far beyond 3 as 3 is beyond 1
            assertEquals(expected, out[2][j], 1e-4 * (1 + Math.abs(expected)), "element " + j);
        }
        assertFalse(Arrays.equals(out[0], out[1]));
    }

    @Test
    void aF16DecoderThatOverflowsFallsBackToF32() throws Exception {
        List<String> heard = new ArrayList<>();
        try (Generator g16 = new Generator(checkpoint, device, DType.F16, tokenizer, null, heard::add)) {
            ImageDecoder d = g16.decoder();
            float[] latents = new float[latentsPerImage(PX)];
            for (int i = 0; i < latents.length; i++) latents[i] = (float) (Math.sin(i) * 2e4);   // far outside what a VAE sees
            assertFalse(ImageDecoder.allFinite(d.decodeIn(DType.F16, latents, PX, PX)), "the F16 decoder should overflow on these latents");
            float[] pixels = d.decodePixels(latents, PX, PX);
            assertTrue(ImageDecoder.allFinite(pixels));
            assertEquals(DType.F32, d.dtype());
            assertEquals(1, heard.size(), heard.toString());
            assertArrayEquals(generator.decoder().decodeIn(DType.F32, latents, PX, PX), pixels);
        }
    }

    @Test
    void largeImagesDecodeInTilesAndSmallOnesWhole() {
        // 80 latents a side: more than a tile (64), so two overlapping tiles per axis. How close tiles come to the
        // whole image is TiledVaeTest's question; here: the decoder picks the path and gives a finite image.
        int px = 80 * generator.factor();
        float[] latents = new float[latentsPerImage(px)];
        for (int i = 0; i < latents.length; i++) latents[i] = (float) Math.sin(i * 0.001);
        ImageDecoder d = generator.decoder();
        d.decodePixels(new float[latentsPerImage(PX)], PX, PX);
        assertFalse(d.tiled());
        d.setTiling(true);
        float[] tiled = d.decodePixels(latents, px, px);
        assertTrue(d.tiled());
        d.setTiling(null);
        assertEquals(3 * px * px, tiled.length);
        assertTrue(ImageDecoder.allFinite(tiled));
    }

    /** The same seed on the host and a GPU (F32): the same noise, so the same latents up to the networks' rounding. */
    @Test
    @org.junit.jupiter.api.Tag("gpu")
    void aGpuDrawsTheHostsImageFromTheSameSeed() {
        Device gpu = dev.sumi.testing.Devices.cuda();
        for (SamplerKind k : List.of(SamplerKind.EULER_A, SamplerKind.DPMPP_2M_KARRAS)) {
            GenerationRequest r = request(k, 21, 2, 5);
            int per = latentsPerImage(PX);
            SeededNoise hostNoise = new SeededNoise(21, 2, per), gpuNoise = new SeededNoise(21, 2, per);
            float[] onHost = generator.sample(r, hostNoise.initial(), hostNoise, false).latents();
            float[] onGpu;
            try (Generator g = new Generator(checkpoint, gpu, DType.F32, tokenizer, null, notices::add)) {
                onGpu = g.sample(r, gpuNoise.initial(), gpuNoise, false).latents();
            }
            // the tiny random UNet predicts noise of size ~40, so errors are relative to the largest latent; 1e-3 allows
            // cuBLAS's and the host GEMM's different summation orders through 3 steps of 2 x 2 UNet passes
            double scale = 0, worst = 0;
            for (float v : onHost) scale = Math.max(scale, Math.abs(v));
            for (int i = 0; i < onHost.length; i++) worst = Math.max(worst, Math.abs(onHost[i] - onGpu[i]));
            assertTrue(worst <= 1e-3 * scale, k + ": host vs GPU latents differ by " + worst + " (largest " + scale + ")");
        }
        try (Generator g16 = new Generator(checkpoint, gpu, DType.F16, tokenizer, null, notices::add)) {
            for (Generator.Image img : g16.generate(request(SamplerKind.EULER_A, 1, 2, 5)).images()) assertEquals(PX * PX * 3, img.image().rgb().length);
        }
    }

    @Test
    void badRequestsFailWithOneLine() {
        assertThrows(IllegalArgumentException.class, () -> new GenerationRequest("x", "", SamplerKind.EULER, 20, 7, 1, 65, 64, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new GenerationRequest("x", "", SamplerKind.EULER, 0, 7, 1, 64, 64, 1, 1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SamplerKind.parse("heun"));
        assertTrue(e.getMessage().contains("euler_a"), e.getMessage());
        assertEquals(SamplerKind.EULER_A, SamplerKind.parse("Euler a"));
        assertEquals(SamplerKind.DPMPP_2M_KARRAS, SamplerKind.parse("DPM++ 2M Karras"));
        assertEquals(SamplerKind.DPMPP_2M_KARRAS, SamplerKind.parse("dpmpp_2m_karras"));
        assertThrows(IllegalArgumentException.class, () -> generator.generate(new GenerationRequest("x", "", SamplerKind.EULER, 2, 7, 1, 64, 64, 1, 99)));
    }
}
