package dev.sumi.train;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NoiseScheduleTest {

    static final double EPS32 = 0x1.0p-24;   // float32 unit roundoff

    @Test
    void alphasCumprodMatchDiffusersDdpmScheduler() throws Exception {
        Map<String, Object> g = Golden.load();
        double[] f64 = Golden.doubles(g.get("alphas_cumprod_f64"));
        double[] f32 = Golden.doubles(g.get("alphas_cumprod_f32"));
        NoiseSchedule s = NoiseSchedule.stableDiffusion();
        assertEquals(1000, s.timesteps());
        double worst64 = 0, worstShare32 = 0;
        for (int t = 0; t < 1000; t++) {
            double a = s.alphaCumprod(t);
            worst64 = Math.max(worst64, Math.abs(a - f64[t]) / f64[t]);
            // diffusers runs in float32: linspace, square and 1 - beta cost a few roundings, then t + 1 products one each
            double budget = (2.0 * (t + 1) + 8) * EPS32;
            double rel = Math.abs(a - f32[t]) / a;
            worstShare32 = Math.max(worstShare32, rel / budget);
        }
        System.out.printf("alphas_cumprod: max rel diff vs torch float64 %.3g; vs diffusers float32 %.1f%% of budget%n", worst64, 100 * worstShare32);
        assertTrue(worst64 < 1e-13, "float64 formula differs: " + worst64);
        assertTrue(worstShare32 <= 1.0, "float32 diffusers values outside their rounding budget: " + worstShare32);
        assertEquals(0.99915, s.alphaCumprod(0), 1e-15);   // 1 - beta_start
        assertEquals(0.012, s.beta(999), 1e-15);
    }

    @Test
    void addNoiseAndVelocityMatchDiffusers() throws Exception {
        Map<String, Object> g = Golden.load();
        float[][] x0 = Golden.matrix(g.get("x0")), eps = Golden.matrix(g.get("eps"));
        float[][] noisy = Golden.matrix(g.get("add_noise")), vel = Golden.matrix(g.get("velocity"));
        double[] ts = Golden.doubles(g.get("timesteps"));
        NoiseSchedule s = NoiseSchedule.stableDiffusion();
        for (int b = 0; b < ts.length; b++) {
            int t = (int) ts[b];
            float[] out = new float[x0[b].length], v = new float[x0[b].length];
            s.addNoise(out, x0[b], eps[b], t);
            s.velocity(v, x0[b], eps[b], t);
            for (int i = 0; i < out.length; i++) {
                // diffusers: float32 coefficients (sqrt of a float32 alpha_bar) times float32 inputs, one add: a few float32 roundings
                double scale = Math.abs(x0[b][i]) + Math.abs(eps[b][i]);
                assertEquals(noisy[b][i], out[i], 8 * EPS32 * scale + (t + 10) * EPS32 * scale, "add_noise t=" + t + " i=" + i);
                assertEquals(vel[b][i], v[i], 8 * EPS32 * scale + (t + 10) * EPS32 * scale, "velocity t=" + t + " i=" + i);
            }
        }
    }

    @Test
    void minSnrWeightsAreKohyas() {
        NoiseSchedule s = NoiseSchedule.stableDiffusion();
        for (int t : new int[] {0, 10, 100, 500, 999}) {
            double a = s.alphaCumprod(t), snr = a / (1 - a);
            assertEquals(snr, s.snr(t), 1e-12 * snr);
            assertEquals(Math.min(snr, 5.0) / snr, s.minSnrWeight(t, 5.0, false), 1e-15);
            assertEquals(Math.min(snr, 5.0) / (snr + 1), s.minSnrWeight(t, 5.0, true), 1e-15);
        }
        // small t: high SNR, weight gamma / SNR < 1; large t: SNR < gamma, weight 1 (epsilon)
        assertTrue(s.minSnrWeight(0, 5, false) < 0.01);
        assertEquals(1.0, s.minSnrWeight(999, 5, false), 0);
        assertThrows(IllegalArgumentException.class, () -> s.minSnrWeight(3, 0, false));
        assertThrows(IllegalArgumentException.class, () -> s.alphaCumprod(1000));
    }

    @Test
    void noiseOffsetShiftsEachChannelByOneDraw() {
        int b = 2, c = 3, hw = 5;
        float[] plain = new float[b * c * hw], offset = new float[b * c * hw];
        NoiseSchedule.sampleNoise(plain, b, c, hw, 0.0, new TrainRng(11));
        NoiseSchedule.sampleNoise(offset, b, c, hw, 0.1, new TrainRng(11));
        TrainRng again = new TrainRng(11);
        for (int i = 0; i < plain.length; i++) again.nextGaussian();
        for (int bc = 0; bc < b * c; bc++) {
            float shift = (float) (0.1 * again.nextGaussian());
            for (int i = bc * hw; i < (bc + 1) * hw; i++) assertEquals(plain[i] + shift, offset[i], 1e-6f);
        }
        assertThrows(IllegalArgumentException.class, () -> NoiseSchedule.sampleNoise(new float[4], 1, 1, 5, 0, new TrainRng(1)));
    }

    @Test
    void timestepsAreUniformInTheRange() {
        NoiseSchedule s = NoiseSchedule.stableDiffusion();
        int[] counts = new int[10];
        int[] ts = s.sampleTimesteps(20000, 0, 1000, new TrainRng(5));
        for (int t : ts) {
            assertTrue(t >= 0 && t < 1000);
            counts[t / 100]++;
        }
        for (int n : counts) assertTrue(Math.abs(n - 2000) < 5 * Math.sqrt(2000 * 0.9), List.of(counts).toString());
        for (int t : s.sampleTimesteps(100, 200, 300, new TrainRng(6))) assertTrue(t >= 200 && t < 300);
        assertThrows(IllegalArgumentException.class, () -> s.sampleTimesteps(1, 10, 10, new TrainRng(1)));
        assertThrows(IllegalArgumentException.class, () -> s.sampleTimesteps(1, 0, 1001, new TrainRng(1)));
    }
}
