package dev.sumi.sample;

import dev.sumi.train.TrainRng;

/** The fresh standard-normal noise an ancestral sampler adds after each step; out (B*C*H*W), step counts from 0. */
@FunctionalInterface
public interface StepNoise {
    void fill(float[] out, int step);

    /** Noise drawn from rng in element order, one step after another, so a seed gives the same image every run. */
    static StepNoise from(TrainRng rng) {
        return (out, step) -> {
            for (int i = 0; i < out.length; i++) out[i] = (float) rng.nextGaussian();
        };
    }
}
