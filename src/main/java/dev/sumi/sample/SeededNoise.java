package dev.sumi.sample;

import dev.sumi.train.TrainRng;

/**
 * The noise of a batch drawn per image from its own seed: image i's generator is seeded with {@code seed + i}, draws
 * its initial latents (C*h*w standard normals, element order) and then, step by step, its share of any ancestral noise.
 * Drawn on the host, so host and GPU runs start from the same numbers and an image does not depend on its batch.
 */
public final class SeededNoise implements StepNoise {
    private final TrainRng[] rngs;   // one per image
    private final int perImage;      // C*h*w

    public SeededNoise(long seed, int batch, int perImage) {
        this.rngs = new TrainRng[batch];
        for (int i = 0; i < batch; i++) rngs[i] = new TrainRng(seed + i);
        this.perImage = perImage;
    }

    /** The initial latents (B*C*h*w); call once, before the first step's noise. */
    public float[] initial() {
        float[] out = new float[rngs.length * perImage];
        fill(out, -1);
        return out;
    }

    @Override
    public void fill(float[] out, int step) {
        if (out.length != rngs.length * perImage) throw new IllegalArgumentException("noise: " + out.length + " values for " + rngs.length + " x " + perImage);
        for (int i = 0; i < rngs.length; i++) {
            TrainRng r = rngs[i];
            for (int j = i * perImage, end = j + perImage; j < end; j++) out[j] = (float) r.nextGaussian();
        }
    }
}
