package dev.sumi.sample;

import dev.sumi.image.Infotext;

import java.util.Map;

/**
 * One prompt to draw {@code batch} images of: image i uses seed {@code seed + i} (AUTOMATIC1111's rule), so an image
 * is the same whatever batch it was drawn in. {@code cfgScale} at or below 1 runs the conditional pass only
 * (diffusers' rule), and the negative prompt is then unused.
 *
 * @param clipSkip 1 = the text encoder's last layer, 2 = the one before (anime models), ...
 */
public record GenerationRequest(String prompt, String negativePrompt, SamplerKind sampler, int steps, double cfgScale,
                                long seed, int width, int height, int batch, int clipSkip) {
    public GenerationRequest {
        if (prompt == null) throw new IllegalArgumentException("prompt: missing");
        if (negativePrompt == null) negativePrompt = "";
        if (sampler == null) throw new IllegalArgumentException("sampler: missing");
        if (steps < 1 || steps > 1000) throw new IllegalArgumentException("steps " + steps + ": must be 1..1000");
        if (!(cfgScale >= 0) || !Double.isFinite(cfgScale)) throw new IllegalArgumentException("cfg scale " + cfgScale + ": must be finite and >= 0");
        if (batch < 1) throw new IllegalArgumentException("batch " + batch + ": must be at least 1");
        if (clipSkip < 1) throw new IllegalArgumentException("clip skip " + clipSkip + ": must be at least 1");
        if (width < 8 || height < 8 || width % 8 != 0 || height % 8 != 0) {
            throw new IllegalArgumentException("size " + width + "x" + height + ": width and height must be positive multiples of 8");
        }
    }

    /** Whether the unconditional pass runs (classifier-free guidance). */
    public boolean guided() {
        return cfgScale > 1;
    }

    /**
     * AUTOMATIC1111's parameters text of image {@code seed} of this request: {@code writtenPrompt} is the prompt as the
     * user wrote it (with its {@code <lora:...>} tags); {@code modelHash} may be null.
     */
    public Infotext infotext(String writtenPrompt, long seed, String modelHash, String modelName, Map<String, String> extras) {
        return new Infotext(writtenPrompt, negativePrompt, steps, sampler.a1111Name(), cfgScale, seed, width, height, modelHash, modelName,
                clipSkip, extras, "sumi");
    }

    public GenerationRequest withSeed(long newSeed) {
        return new GenerationRequest(prompt, negativePrompt, sampler, steps, cfgScale, newSeed, width, height, batch, clipSkip);
    }

    public GenerationRequest withPrompt(String newPrompt) {
        return new GenerationRequest(newPrompt, negativePrompt, sampler, steps, cfgScale, seed, width, height, batch, clipSkip);
    }
}
