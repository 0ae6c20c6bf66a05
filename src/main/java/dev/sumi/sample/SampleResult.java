package dev.sumi.sample;

import java.util.List;

/** latents (B*C*H*W): the denoised result; steps: the latents after each step (the last equals latents), or empty. */
public record SampleResult(float[] latents, List<float[]> steps) {}
