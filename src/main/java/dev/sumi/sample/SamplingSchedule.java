package dev.sumi.sample;

import dev.sumi.train.NoiseSchedule;

/**
 * The inference timesteps and sigmas that diffusers v0.31's schedulers derive from the training schedule, in float64.
 * sigma(t) = sqrt((1 - alpha_bar(t)) / alpha_bar(t)) is the noise level of the variance-exploding form x = x0 + sigma eps,
 * which the Euler and DPM-Solver samplers step in.
 */
final class SamplingSchedule {
    private SamplingSchedule() {}

    static void checkSteps(int steps, NoiseSchedule schedule) {
        if (steps < 1 || steps > schedule.timesteps()) {
            throw new IllegalArgumentException("sampler: steps must be in [1, " + schedule.timesteps() + "], not " + steps);
        }
    }

    /** sigma at every training timestep; out (T). */
    static double[] trainSigmas(NoiseSchedule schedule) {
        double[] s = new double[schedule.timesteps()];
        for (int t = 0; t < s.length; t++) s[t] = Math.sqrt((1 - schedule.alphaCumprod(t)) / schedule.alphaCumprod(t));
        return s;
    }

    /**
     * EulerDiscreteScheduler's "linspace" spacing (its default, and what SD pipelines get from SD's scheduler config,
     * which names no spacing): steps timesteps from T-1 down to 0, kept in float32 as diffusers keeps them; out (steps).
     */
    static double[] linspaceTimesteps(int steps, int trainSteps) {
        double[] t = new double[steps];
        for (int i = 0; i < steps; i++) {
            double v = steps == 1 ? 0 : (double) (trainSteps - 1) * i / (steps - 1);
            t[steps - 1 - i] = (float) v;
        }
        return t;
    }

    /** Linear interpolation of the training sigmas at fractional timesteps (np.interp), then a final 0; out (n+1). */
    static double[] interpolatedSigmas(double[] timesteps, double[] trainSigmas) {
        double[] out = new double[timesteps.length + 1];
        for (int i = 0; i < timesteps.length; i++) {
            double t = timesteps[i];
            int lo = Math.min((int) Math.floor(t), trainSigmas.length - 2);
            double w = t - lo;
            out[i] = trainSigmas[lo] + w * (trainSigmas[lo + 1] - trainSigmas[lo]);
        }
        return out;
    }

    /** Karras et al. (2022) rho=7 sigmas from the largest to the smallest training sigma, then a final 0; out (n+1). */
    static double[] karrasSigmas(int steps, double[] trainSigmas) {
        double rho = 7.0;
        double minInv = Math.pow(trainSigmas[0], 1 / rho), maxInv = Math.pow(trainSigmas[trainSigmas.length - 1], 1 / rho);
        double[] out = new double[steps + 1];
        for (int i = 0; i < steps; i++) {
            double ramp = steps == 1 ? 0 : (double) i / (steps - 1);
            out[i] = Math.pow(maxInv + ramp * (minInv - maxInv), rho);
        }
        return out;
    }

    /**
     * The fractional training timestep whose sigma is sigma, interpolating linearly in log sigma between neighbours
     * and clamping to [0, T-1] (diffusers' _sigma_to_t).
     */
    static double sigmaToTimestep(double sigma, double[] trainSigmas) {
        double logSigma = Math.log(Math.max(sigma, 1e-10));
        int atOrBelow = 0;   // training timesteps whose log sigma <= logSigma (sigmas grow with t)
        while (atOrBelow < trainSigmas.length && Math.log(trainSigmas[atOrBelow]) <= logSigma) atOrBelow++;
        int lo = atOrBelow == 0 ? 0 : Math.min(atOrBelow - 1, trainSigmas.length - 2);
        double low = Math.log(trainSigmas[lo]), high = Math.log(trainSigmas[lo + 1]);
        double w = Math.clamp((low - logSigma) / (low - high), 0.0, 1.0);
        return (1 - w) * lo + w * (lo + 1);
    }

    /**
     * DDIMScheduler's "leading" spacing with steps_offset 1 (SD's scheduler config): T/steps apart, counting down to 1;
     * out (steps). Each step goes to the timestep T/steps lower (to alpha_bar(0) past the first, set_alpha_to_one False).
     */
    static int[] leadingTimesteps(int steps, int trainSteps) {
        int ratio = trainSteps / steps;
        int[] t = new int[steps];
        for (int i = 0; i < steps; i++) t[steps - 1 - i] = i * ratio + 1;
        if (t[0] >= trainSteps) {
            throw new IllegalArgumentException("DDIM: " + steps + " steps with steps_offset 1 reach timestep " + t[0] + " past " + (trainSteps - 1));
        }
        return t;
    }
}
