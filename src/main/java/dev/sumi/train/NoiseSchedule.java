package dev.sumi.train;

/**
 * The DDPM forward process Stable Diffusion is trained with: 1000 timesteps, "scaled linear" betas
 * (diffusers {@code DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)}, as kohya's
 * train_network builds it), computed in float64. It gives the noised latents, the training target
 * (epsilon or v), the signal-to-noise ratio and kohya's min-SNR-gamma loss weights.
 * <p>
 * Host math on one sample at a time; the training step on the device needs only the per-sample scalars
 * {@link #signalScale(int)} and {@link #noiseScale(int)}.
 * Legend: N = elements of one sample (C*H*W of a latent).
 */
public final class NoiseSchedule {

    public static final int TRAIN_TIMESTEPS = 1000;
    public static final double SD_BETA_START = 0.00085;
    public static final double SD_BETA_END = 0.012;

    private final double[] betas;          // (T)
    private final double[] alphasCumprod;  // (T) prod_{s<=t} (1 - beta_s)

    private NoiseSchedule(double[] betas) {
        this.betas = betas;
        this.alphasCumprod = new double[betas.length];
        double prod = 1.0;
        for (int t = 0; t < betas.length; t++) {
            prod *= 1.0 - betas[t];
            alphasCumprod[t] = prod;
        }
    }

    /** Stable Diffusion's schedule (SD 1.x, 2.x and SDXL all train with it). */
    public static NoiseSchedule stableDiffusion() {
        return scaledLinear(TRAIN_TIMESTEPS, SD_BETA_START, SD_BETA_END);
    }

    /** betas = linspace(sqrt(betaStart), sqrt(betaEnd), steps)^2. */
    public static NoiseSchedule scaledLinear(int steps, double betaStart, double betaEnd) {
        if (steps < 2) throw new IllegalArgumentException("noise schedule: need at least 2 timesteps, not " + steps);
        if (!(betaStart > 0 && betaEnd < 1 && betaStart <= betaEnd)) {
            throw new IllegalArgumentException("noise schedule: betas must satisfy 0 < start <= end < 1, not " + betaStart + ".." + betaEnd);
        }
        double a = Math.sqrt(betaStart), b = Math.sqrt(betaEnd);
        double[] betas = new double[steps];
        for (int i = 0; i < steps; i++) {
            double s = a + (b - a) * i / (steps - 1);
            betas[i] = s * s;
        }
        return new NoiseSchedule(betas);
    }

    public int timesteps() {
        return betas.length;
    }

    public double beta(int t) {
        return betas[check(t)];
    }

    /** alpha_bar(t), the fraction of the signal's variance left at timestep t. */
    public double alphaCumprod(int t) {
        return alphasCumprod[check(t)];
    }

    /** sqrt(alpha_bar(t)): the factor on x0 in the noised sample. */
    public double signalScale(int t) {
        return Math.sqrt(alphaCumprod(t));
    }

    /** sqrt(1 - alpha_bar(t)): the factor on the noise in the noised sample. */
    public double noiseScale(int t) {
        return Math.sqrt(1.0 - alphaCumprod(t));
    }

    /** SNR(t) = alpha_bar / (1 - alpha_bar), kohya's all_snr = (sqrt(alpha_bar) / sqrt(1 - alpha_bar))^2. */
    public double snr(int t) {
        double a = alphaCumprod(t);
        return a / (1.0 - a);
    }

    /**
     * kohya's apply_snr_weight (library/custom_train_functions.py): min(SNR, gamma) / SNR for epsilon prediction and
     * min(SNR, gamma) / (SNR + 1) for v-prediction (which also rescales the v loss to the size of an epsilon loss).
     */
    public double minSnrWeight(int t, double gamma, boolean vPrediction) {
        if (!(gamma > 0)) throw new IllegalArgumentException("min_snr_gamma must be positive, not " + gamma);
        double snr = snr(t);
        return Math.min(snr, gamma) / (vPrediction ? snr + 1.0 : snr);
    }

    /** out = sqrt(alpha_bar(t)) x0 + sqrt(1 - alpha_bar(t)) noise (diffusers add_noise); out (N), x0 (N), noise (N). */
    public void addNoise(float[] out, float[] x0, float[] noise, int t) {
        sameLength(out, x0, noise);
        double s = signalScale(t), n = noiseScale(t);
        for (int i = 0; i < out.length; i++) out[i] = (float) (s * x0[i] + n * noise[i]);
    }

    /** out = sqrt(alpha_bar(t)) noise - sqrt(1 - alpha_bar(t)) x0 (diffusers get_velocity); out (N), x0 (N), noise (N). */
    public void velocity(float[] out, float[] x0, float[] noise, int t) {
        sameLength(out, x0, noise);
        double s = signalScale(t), n = noiseScale(t);
        for (int i = 0; i < out.length; i++) out[i] = (float) (s * noise[i] - n * x0[i]);
    }

    /**
     * Gaussian noise for a batch as kohya draws it: noise = randn(B, C, H, W), plus, when offset > 0,
     * offset * randn(B, C, 1, 1) broadcast over each channel (train_util.get_noise_noisy_latents_and_timesteps).
     * noise (B*C*HW), drawn from rng in that order.
     */
    public static void sampleNoise(float[] noise, int batch, int channels, int hw, double offset, TrainRng rng) {
        if ((long) batch * channels * hw != noise.length) {
            throw new IllegalArgumentException("noise: length " + noise.length + " is not " + batch + "*" + channels + "*" + hw);
        }
        if (offset < 0) throw new IllegalArgumentException("noise_offset must be >= 0, not " + offset);
        for (int i = 0; i < noise.length; i++) noise[i] = (float) rng.nextGaussian();
        if (offset == 0) return;
        for (int bc = 0; bc < batch * channels; bc++) {
            float shift = (float) (offset * rng.nextGaussian());
            for (int i = bc * hw; i < (bc + 1) * hw; i++) noise[i] += shift;
        }
    }

    /** timesteps (B): uniform integers in [minTimestep, maxTimestep), kohya's torch.randint(min_timestep, max_timestep). */
    public int[] sampleTimesteps(int batch, int minTimestep, int maxTimestep, TrainRng rng) {
        if (minTimestep < 0 || maxTimestep > timesteps() || minTimestep >= maxTimestep) {
            throw new IllegalArgumentException("timesteps: need 0 <= min < max <= " + timesteps() + ", not " + minTimestep + ", " + maxTimestep);
        }
        int[] ts = new int[batch];
        for (int i = 0; i < batch; i++) ts[i] = minTimestep + rng.nextInt(maxTimestep - minTimestep);
        return ts;
    }

    private int check(int t) {
        if (t < 0 || t >= betas.length) throw new IllegalArgumentException("timestep " + t + " outside [0, " + betas.length + ")");
        return t;
    }

    private static void sameLength(float[] out, float[] a, float[] b) {
        if (out.length != a.length || out.length != b.length) {
            throw new IllegalArgumentException("lengths differ: out " + out.length + ", x0 " + a.length + ", noise " + b.length);
        }
    }
}
