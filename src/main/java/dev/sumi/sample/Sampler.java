package dev.sumi.sample;

/** One sampling algorithm over a fixed schedule and prediction type. */
public interface Sampler {
    /**
     * Runs steps denoising steps from initialNoise (B*C*H*W, standard normal; the sampler scales it to its first
     * sigma). ancestralNoise feeds the samplers that add noise (Euler a, where it is required) and is ignored (may be
     * null) by the others. recordSteps keeps a copy of the latents after every step.
     */
    SampleResult sample(Denoiser denoiser, float[] initialNoise, int steps, StepNoise ancestralNoise, boolean recordSteps);
}
