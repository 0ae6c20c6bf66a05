package dev.sumi.lora;

/**
 * What LoRA network to build, kohya sd-scripts' {@code networks/lora.py} options.
 *
 * @param dim          rank of the Linear and 1x1-conv modules (network_dim)
 * @param alpha        their alpha (network_alpha); scale = multiplier * alpha / dim
 * @param convDim      rank of the 3x3-conv modules of ResBlocks, Downsample and Upsample (conv_dim);
 *                     0 turns LoCon off: then those blocks are not targeted at all (not even their Linears)
 * @param convAlpha    their alpha (conv_alpha)
 * @param unet         adapt the UNet (false: kohya's --network_train_text_encoder_only)
 * @param textEncoder  adapt the text encoder (false: --network_train_unet_only)
 * @param multiplier   the strength the forward applies (1 when training; a weight at inference)
 * @param seed         seeds the down matrices' kaiming-uniform init
 */
public record LoraOptions(int dim, float alpha, int convDim, float convAlpha, boolean unet, boolean textEncoder,
                          float multiplier, long seed) {

    public LoraOptions {
        if (dim < 1 || dim > dev.sumi.ops.LoraOps.MAX_RANK) throw new IllegalArgumentException("lora: dim " + dim + " is not in 1.." + dev.sumi.ops.LoraOps.MAX_RANK);
        if (convDim < 0 || convDim > dev.sumi.ops.LoraOps.MAX_RANK) throw new IllegalArgumentException("lora: conv dim " + convDim + " is not in 0.." + dev.sumi.ops.LoraOps.MAX_RANK);
        if (!(alpha > 0) || (convDim > 0 && !(convAlpha > 0))) throw new IllegalArgumentException("lora: alpha " + alpha + " / conv alpha " + convAlpha + " must be positive");
        if (!unet && !textEncoder) throw new IllegalArgumentException("lora: neither the UNet nor the text encoder is adapted");
        if (!Float.isFinite(multiplier)) throw new IllegalArgumentException("lora: multiplier " + multiplier);
    }

    /** dim and alpha, no LoCon, both networks, multiplier 1. */
    public static LoraOptions of(int dim, float alpha, long seed) {
        return new LoraOptions(dim, alpha, 0, 0, true, true, 1f, seed);
    }

    public LoraOptions withConv(int convDim, float convAlpha) {
        return new LoraOptions(dim, alpha, convDim, convAlpha, unet, textEncoder, multiplier, seed);
    }

    public LoraOptions only(boolean unet, boolean textEncoder) {
        return new LoraOptions(dim, alpha, convDim, convAlpha, unet, textEncoder, multiplier, seed);
    }

    public boolean locon() {
        return convDim > 0;
    }
}
