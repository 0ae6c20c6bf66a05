package dev.sumi.sample;

import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.train.NoiseSchedule;
import dev.sumi.train.TrainRng;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every sampler against diffusers v0.31's scheduler, driven by the same analytic model, initial noise and ancestral
 * noise (src/test/resources/golden/samplers.safetensors, written by scripts/golden-samplers): the model's timestep
 * and the latents after each of 10 steps.
 * Tolerance: diffusers steps in float32 (about 6e-8 relative rounding per operation, some ten operations a step,
 * carried through ten steps: a few 1e-7), sumi in float64 rounded to float32 once a step; the worst seen is 6e-7 of
 * the step's largest latent, so 5e-6 leaves a margin of 8, while a wrong coefficient, sigma or timestep moves results
 * by more than 1e-3.
 */
class SamplersGoldenTest {
    static final int STEPS = 10;
    static final double RELATIVE_TOLERANCE = 5e-6;
    static SafeTensorsFile golden;

    @BeforeAll
    static void open() throws Exception {
        golden = SafeTensorsFile.open(Path.of(SamplersGoldenTest.class.getResource("/golden/samplers.safetensors").toURI()));
    }

    @AfterAll
    static void close() {
        golden.close();
    }

    static float[] model(float[] x, double t) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) out[i] = (float) (0.3 * x[i] + 0.05 * Math.sin(t / 150 + 0.37 * i));
        return out;
    }

    static Sampler sampler(String name, Prediction prediction) {
        NoiseSchedule sd = NoiseSchedule.stableDiffusion();
        return switch (name) {
            case "euler" -> new EulerSampler(sd, prediction, false);
            case "euler_a" -> new EulerSampler(sd, prediction, true);
            case "ddim" -> new DdimSampler(sd, prediction);
            case "dpmpp_2m" -> new DpmPlusPlus2mKarrasSampler(sd, prediction);
            default -> throw new IllegalArgumentException(name);
        };
    }

    @Test
    void ancestralNoiseFromASeedRepeats() throws Exception {
        float[] noise = golden.readFloats("noise");
        Sampler eulerA = sampler("euler_a", Prediction.EPSILON);
        float[] first = eulerA.sample(SamplersGoldenTest::model, noise, 6, StepNoise.from(new TrainRng(7)), false).latents();
        float[] again = eulerA.sample(SamplersGoldenTest::model, noise, 6, StepNoise.from(new TrainRng(7)), false).latents();
        float[] other = eulerA.sample(SamplersGoldenTest::model, noise, 6, StepNoise.from(new TrainRng(8)), false).latents();
        assertTrue(Arrays.equals(first, again), "same seed, same latents");
        assertTrue(!Arrays.equals(first, other), "another seed, other latents");
        assertThrows(IllegalArgumentException.class, () -> eulerA.sample(SamplersGoldenTest::model, noise, 6, null, false));
    }

    @ParameterizedTest
    @CsvSource({"euler,eps", "euler,v", "euler_a,eps", "euler_a,v", "ddim,eps", "ddim,v", "dpmpp_2m,eps", "dpmpp_2m,v"})
    void matchesDiffusers(String name, String pred) throws Exception {
        float[] noise = golden.readFloats("noise");
        float[] ancestral = golden.readFloats("ancestral_noise");
        float[] expectedT = golden.readFloats(name + "." + pred + ".timesteps");
        float[] expected = golden.readFloats(name + "." + pred + ".latents");
        int n = noise.length;
        double[] seenT = new double[STEPS];
        int[] calls = {0};
        Denoiser denoiser = (x, t) -> {
            seenT[calls[0]++] = t;
            return model(x, t);
        };
        StepNoise fixtureNoise = (out, step) -> System.arraycopy(ancestral, step * n, out, 0, n);
        Prediction prediction = pred.equals("v") ? Prediction.V : Prediction.EPSILON;
        SampleResult result = sampler(name, prediction).sample(denoiser, noise, STEPS, fixtureNoise, true);

        assertEquals(STEPS, calls[0], "one model call a step");
        for (int s = 0; s < STEPS; s++) assertEquals(expectedT[s], seenT[s], 1e-3, name + " timestep " + s);
        List<float[]> steps = result.steps();
        assertEquals(STEPS, steps.size());
        assertTrue(Arrays.equals(result.latents(), steps.get(STEPS - 1)), "result is the last step");
        double worst = 0;
        for (int s = 0; s < STEPS; s++) {
            float[] got = steps.get(s);
            double scale = 0, err = 0;
            for (int i = 0; i < n; i++) {
                scale = Math.max(scale, Math.abs(expected[s * n + i]));
                err = Math.max(err, Math.abs(got[i] - expected[s * n + i]));
            }
            worst = Math.max(worst, err / scale);
            assertTrue(err <= RELATIVE_TOLERANCE * scale, name + "." + pred + " step " + s + ": max error " + err + " > " + RELATIVE_TOLERANCE + " * " + scale);
        }
        System.out.printf("%s.%s: worst relative error %.2e%n", name, pred, worst);
    }
}
