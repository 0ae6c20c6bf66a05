package dev.sumi.sample;

import dev.sumi.train.NoiseSchedule;

import java.util.ArrayList;
import java.util.List;

/**
 * DPM++ 2M Karras, as diffusers v0.31's DPMSolverMultistepScheduler(algorithm_type "dpmsolver++", solver_order 2,
 * solver_type "midpoint", use_karras_sigmas True, lower_order_final True, final_sigmas_type "zero"). It steps the
 * data prediction x0 in lambda = -log(sigma): first order on the first step and on the last (to sigma 0, where the
 * result is x0 itself), second order in between, using the previous step's x0 as the multistep history.
 * Timesteps given to the model are the Karras sigmas mapped back to training timesteps and rounded.
 */
public final class DpmPlusPlus2mKarrasSampler implements Sampler {
    private final NoiseSchedule schedule;
    private final Prediction prediction;

    public DpmPlusPlus2mKarrasSampler(NoiseSchedule schedule, Prediction prediction) {
        this.schedule = schedule;
        this.prediction = prediction;
    }

    @Override
    public SampleResult sample(Denoiser denoiser, float[] initialNoise, int steps, StepNoise ancestralNoise, boolean recordSteps) {
        SamplingSchedule.checkSteps(steps, schedule);
        double[] trainSigmas = SamplingSchedule.trainSigmas(schedule);
        double[] sigmas = SamplingSchedule.karrasSigmas(steps, trainSigmas);
        int n = initialNoise.length;
        float[] x = initialNoise.clone();   // (N) variance-preserving latents alpha x0 + sigma_vp eps, unit noise first
        float[] x0 = new float[n];          // (N) this step's data prediction
        float[] x0Prev = new float[n];      // (N) the previous step's
        List<float[]> trace = new ArrayList<>();
        for (int step = 0; step < steps; step++) {
            double sigma = sigmas[step], next = sigmas[step + 1];
            double alpha = 1 / Math.sqrt(sigma * sigma + 1), sigmaVp = sigma * alpha;
            double t = Math.rint(SamplingSchedule.sigmaToTimestep(sigma, trainSigmas));
            float[] out = EulerSampler.checked(denoiser.predict(x, t), n);
            for (int i = 0; i < n; i++) {
                x0[i] = (float) (prediction == Prediction.EPSILON ? (x[i] - sigmaVp * out[i]) / alpha : alpha * x[i] - sigmaVp * out[i]);
            }
            double alphaNext = 1 / Math.sqrt(next * next + 1);
            double vpRatio = next * alphaNext / sigmaVp;     // sigma_vp(next) / sigma_vp(now)
            double expMinusH = next / sigma;                 // h = lambda_next - lambda_now = log(sigma / next)
            double x0Coeff = -alphaNext * (expMinusH - 1);
            boolean secondOrder = step > 0 && step < steps - 1;
            if (secondOrder) {
                double h = Math.log(sigma / next), hPrev = Math.log(sigmas[step - 1] / sigma);
                double r = hPrev / h;
                for (int i = 0; i < n; i++) {
                    double d1 = (x0[i] - x0Prev[i]) / r;
                    x[i] = (float) (vpRatio * x[i] + x0Coeff * x0[i] + 0.5 * x0Coeff * d1);
                }
            } else {
                for (int i = 0; i < n; i++) x[i] = (float) (vpRatio * x[i] + x0Coeff * x0[i]);
            }
            System.arraycopy(x0, 0, x0Prev, 0, n);
            if (recordSteps) trace.add(x.clone());
        }
        return new SampleResult(x, trace);
    }
}
