package dev.sumi.lora;

import dev.sumi.model.KeyMap.Component;

/**
 * One LoRA module (kohya's {@code LoRAModule}): down (r, in) then up (out, r) beside a Linear, or for a
 * conv, down a conv (r, in, k, k) with the base conv's stride and padding and up a 1x1 conv (out, r, 1, 1).
 *
 * @param kohyaName  the file's module name, e.g. {@code lora_unet_down_blocks_0_attentions_0_proj_in}
 * @param component  UNet or text encoder
 * @param site       the LDM weight it adapts
 * @param in, out    the base layer's input and output features (channels)
 * @param kernel     0 for a Linear, else the conv's kernel size (1 or 3)
 * @param rank       r
 * @param alpha      scale = multiplier * alpha / r
 */
public record LoraModule(String kohyaName, Component component, LoraSite site, int in, int out, int kernel, int rank, float alpha) {

    public boolean conv() {
        return kernel > 0;
    }

    /** kohya's lora_down.weight shape: [r, in] or [r, in, k, k]. */
    public long[] downShape() {
        return conv() ? new long[] {rank, in, kernel, kernel} : new long[] {rank, in};
    }

    /** kohya's lora_up.weight shape: [out, r] or [out, r, 1, 1]. */
    public long[] upShape() {
        return conv() ? new long[] {out, rank, 1, 1} : new long[] {out, rank};
    }

    public long downCount() {
        return (long) rank * in * Math.max(1, kernel) * Math.max(1, kernel);
    }

    public long upCount() {
        return (long) out * rank;
    }

    /** The forward's scale at {@code multiplier}. */
    public float scale(float multiplier) {
        return multiplier * alpha / rank;
    }
}
