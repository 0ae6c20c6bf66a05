package dev.sumi.sample;

/**
 * The model as a sampler sees it: latents (B*C*H*W, host) at the model's timestep t (0..999, fractional for the
 * Euler samplers) in, the model output (B*C*H*W, epsilon or v as {@link Prediction} says) out. Classifier-free
 * guidance is the caller's: it runs the conditional and unconditional passes and returns the guided output.
 * The input array must not be kept or changed.
 */
@FunctionalInterface
public interface Denoiser {
    float[] predict(float[] latents, double timestep);
}
