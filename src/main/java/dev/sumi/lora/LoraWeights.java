package dev.sumi.lora;

/**
 * One module's weights on the host, as the kohya file stores them: {@code lora_down.weight},
 * {@code lora_up.weight} (F32, row-major, shapes as {@link LoraModule#downShape}/{@link LoraModule#upShape})
 * and the scalar {@code alpha}.
 */
public record LoraWeights(float[] down, long[] downShape, float[] up, long[] upShape, float alpha) {}
