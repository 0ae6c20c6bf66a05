package dev.sumi.lora;

/**
 * Where a LoRA module sits in a network: the LDM weight name relative to the component
 * (e.g. {@code input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight}) and, for OpenCLIP's stacked
 * {@code attn.in_proj_weight} (3C, C), which row block (0 q, 1 k, 2 v); -1 for an ordinary weight.
 */
public record LoraSite(String weight, int part) {

    public static LoraSite of(String weight) {
        return new LoraSite(weight, -1);
    }

    @Override
    public String toString() {
        return part < 0 ? weight : weight + "[" + part + "]";
    }
}
