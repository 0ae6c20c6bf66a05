package dev.sumi.sample;

import dev.sumi.train.NoiseSchedule;

import java.util.ArrayList;
import java.util.List;

/**
 * Deterministic DDIM (eta 0), as diffusers v0.31's DDIMScheduler with SD's scheduler config: "leading" timesteps,
 * steps_offset 1, set_alpha_to_one False, clip_sample False. Each step predicts x0 and the noise, then re-noises x0 with
 * that same noise to the previous timestep's alpha_bar: x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps.
 */
public final class DdimSampler implements Sampler {
    private final NoiseSchedule schedule;
    private final Prediction prediction;

    public DdimSampler(NoiseSchedule schedule, Prediction prediction) {
        this.schedule = schedule;
        this.prediction = prediction;
    }

    @Override
    public SampleResult sample(Denoiser denoiser, float[] initialNoise, int steps, StepNoise ancestralNoise, boolean recordSteps) {
        SamplingSchedule.checkSteps(steps, schedule);
        int[] timesteps = SamplingSchedule.leadingTimesteps(steps, schedule.timesteps());
        int stride = schedule.timesteps() / steps;
        int n = initialNoise.length;
        float[] x = initialNoise.clone();   // (N) latents at timesteps[step]; DDIM starts from unit noise
        List<float[]> trace = new ArrayList<>();
        for (int step = 0; step < steps; step++) {
            int t = timesteps[step], prev = t - stride;
            double a = schedule.alphaCumprod(t), aPrev = schedule.alphaCumprod(Math.max(prev, 0));
            double sa = Math.sqrt(a), sn = Math.sqrt(1 - a), saPrev = Math.sqrt(aPrev), snPrev = Math.sqrt(1 - aPrev);
            float[] out = EulerSampler.checked(denoiser.predict(x, t), n);
            for (int i = 0; i < n; i++) {
                double x0, eps;
                if (prediction == Prediction.EPSILON) {
                    x0 = (x[i] - sn * out[i]) / sa;
                    eps = out[i];
                } else {
                    x0 = sa * x[i] - sn * out[i];
                    eps = sa * out[i] + sn * x[i];
                }
                x[i] = (float) (saPrev * x0 + snPrev * eps);
            }
            if (recordSteps) trace.add(x.clone());
        }
        return new SampleResult(x, trace);
    }
}
