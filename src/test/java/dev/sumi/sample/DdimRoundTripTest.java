package dev.sumi.sample;

import dev.sumi.train.NoiseSchedule;
import dev.sumi.train.TrainRng;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DDIM inverts the forward noising: with 999 steps (stride 1, timesteps 999..1: the most SD's "leading" spacing with
 * steps_offset 1 allows, since 1000 steps would need timestep 1000) and with 250 (stride 4, 997..1), started from
 * x_T = add_noise(x0, eps, T) with a model that returns the true epsilon (or v) of x0, every step lands on
 * add_noise(x0, eps, t - stride), and the last on alpha_bar(0) (set_alpha_to_one False), within sqrt(beta_0) |eps| of x0.
 * Tolerance: an error in x is scaled by sqrt(1 - a_prev) / sqrt(1 - a) <= 1 through a step, so rounding to float32
 * adds at most half an ulp of |x| <= 6 (2.4e-7) a step: 2.4e-7 x steps.
 */
class DdimRoundTripTest {
    final NoiseSchedule sd = NoiseSchedule.stableDiffusion();

    @ParameterizedTest
    @EnumSource(Prediction.class)
    void reproducesTheNoisingItInvertsIn999Steps(Prediction prediction) {
        roundTrip(prediction, 999);
    }

    @ParameterizedTest
    @EnumSource(Prediction.class)
    void reproducesTheNoisingItInvertsIn250Steps(Prediction prediction) {
        roundTrip(prediction, 250);
    }

    private void roundTrip(Prediction prediction, int steps) {
        int stride = 1000 / steps, top = (steps - 1) * stride + 1;
        double tolerance = 2.4e-7 * steps;
        int n = 4 * 8 * 8;
        TrainRng rng = new TrainRng(42);
        float[] x0 = new float[n], eps = new float[n];   // (N) each
        for (int i = 0; i < n; i++) {
            x0[i] = (float) (1.5 * Math.sin(0.21 * i) + 0.2 * Math.cos(1.3 * i));
            eps[i] = (float) rng.nextGaussian();
        }
        Denoiser truth = (x, tD) -> {
            int t = (int) tD;
            assertEquals(t, tD, "DDIM gives the model integer timesteps");
            double sa = sd.signalScale(t), sn = sd.noiseScale(t);
            float[] out = new float[n];
            for (int i = 0; i < n; i++) {
                double e = (x[i] - sa * x0[i]) / sn;
                out[i] = (float) (prediction == Prediction.EPSILON ? e : sa * e - sn * x0[i]);
            }
            return out;
        };
        // The sampler starts from its argument as x_T (DDIM's init_noise_sigma is 1), here the noised x0 itself.
        float[] xT = new float[n];
        sd.addNoise(xT, x0, eps, top);
        SampleResult result = new DdimSampler(sd, prediction).sample(truth, xT, steps, null, true);

        List<float[]> trace = result.steps();
        assertEquals(steps, trace.size());
        float[] expected = new float[n];
        for (int s = 0; s < steps; s++) {
            sd.addNoise(expected, x0, eps, Math.max(top - stride * (s + 1), 0));
            for (int i = 0; i < n; i++) assertEquals(expected[i], trace.get(s)[i], tolerance, prediction + " step " + s + " element " + i);
        }
        // The last step lands on alpha_bar(0) = 1 - beta_0, not 1: sqrt(beta_0) eps of noise is left, x0 is scaled by sqrt(1 - beta_0).
        double noiseLeft = sd.noiseScale(0), signalLost = 1 - sd.signalScale(0);
        for (int i = 0; i < n; i++) {
            assertTrue(Math.abs(result.latents()[i] - x0[i]) <= noiseLeft * Math.abs(eps[i]) + signalLost * Math.abs(x0[i]) + tolerance,
                    "element " + i + " is " + result.latents()[i] + ", x0 " + x0[i]);
        }
    }

    @Test
    void rejectsStepCountsTheSpacingCannotGive() {
        Denoiser any = (x, t) -> x;
        DdimSampler ddim = new DdimSampler(sd, Prediction.EPSILON);
        var e = assertThrows(IllegalArgumentException.class, () -> ddim.sample(any, new float[4], 1000, null, false));
        assertTrue(e.getMessage().contains("timestep 1000"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ddim.sample(any, new float[4], 0, null, false));
        assertThrows(IllegalStateException.class, () -> ddim.sample((x, t) -> new float[3], new float[4], 10, null, false));
    }
}
