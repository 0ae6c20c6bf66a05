package dev.sumi.sample;

import dev.sumi.train.NoiseSchedule;

import java.util.ArrayList;
import java.util.List;

/**
 * Euler and Euler a (ancestral), as diffusers v0.31's EulerDiscreteScheduler and EulerAncestralDiscreteScheduler with
 * "linspace" timesteps and linearly interpolated sigmas. Both step x = x0 + sigma eps along the ODE derivative
 * d = (x - x0_pred) / sigma; the model sees x / sqrt(sigma^2 + 1), the variance-preserving latents it was trained on.
 * Euler a steps down to sigma_down and adds fresh noise of size sigma_up, so that sigma_down^2 + sigma_up^2 = sigma_next^2.
 */
public final class EulerSampler implements Sampler {
    private final NoiseSchedule schedule;
    private final Prediction prediction;
    private final boolean ancestral;

    public EulerSampler(NoiseSchedule schedule, Prediction prediction, boolean ancestral) {
        this.schedule = schedule;
        this.prediction = prediction;
        this.ancestral = ancestral;
    }

    @Override
    public SampleResult sample(Denoiser denoiser, float[] initialNoise, int steps, StepNoise ancestralNoise, boolean recordSteps) {
        SamplingSchedule.checkSteps(steps, schedule);
        if (ancestral && ancestralNoise == null) throw new IllegalArgumentException("Euler a: needs a source of ancestral noise (StepNoise.from(rng))");
        double[] timesteps = SamplingSchedule.linspaceTimesteps(steps, schedule.timesteps());
        double[] sigmas = SamplingSchedule.interpolatedSigmas(timesteps, SamplingSchedule.trainSigmas(schedule));
        int n = initialNoise.length;
        float[] x = new float[n];                       // (N) latents at sigma
        float[] modelIn = new float[n];                 // (N) x / sqrt(sigma^2 + 1)
        float[] fresh = ancestral ? new float[n] : null; // (N) ancestral noise of this step
        for (int i = 0; i < n; i++) x[i] = (float) (initialNoise[i] * (double) (float) sigmas[0]);
        List<float[]> trace = new ArrayList<>();
        for (int step = 0; step < steps; step++) {
            double sigma = sigmas[step], next = sigmas[step + 1];
            double inScale = 1 / Math.sqrt(sigma * sigma + 1);
            for (int i = 0; i < n; i++) modelIn[i] = (float) (x[i] * inScale);
            float[] out = checked(denoiser.predict(modelIn, timesteps[step]), n);
            double target = next, up = 0;
            if (ancestral) {
                up = Math.sqrt(next * next * (sigma * sigma - next * next) / (sigma * sigma));
                target = Math.sqrt(next * next - up * up);
                ancestralNoise.fill(fresh, step);
            }
            double dt = target - sigma;
            for (int i = 0; i < n; i++) {
                double x0 = prediction == Prediction.EPSILON
                        ? x[i] - sigma * out[i]
                        : out[i] * (-sigma * inScale) + x[i] * inScale * inScale;
                double derivative = (x[i] - x0) / sigma;
                double moved = x[i] + derivative * dt;
                x[i] = (float) (ancestral ? moved + fresh[i] * up : moved);
            }
            if (recordSteps) trace.add(x.clone());
        }
        return new SampleResult(x, trace);
    }

    static float[] checked(float[] out, int n) {
        if (out == null || out.length != n) {
            throw new IllegalStateException("denoiser returned " + (out == null ? "null" : out.length + " values") + " for " + n + " latents");
        }
        return out;
    }
}
