package dev.sumi.model.vae;

import java.util.Arrays;

/**
 * The LDM AutoencoderKL ({@code ldm.models.autoencoder.AutoencoderKL} with the Encoder/Decoder of
 * {@code ldm.modules.diffusionmodules.model}) as every SD family uses it; diffusers keys in comments.
 *
 * @param ch            channels of the first level (block_out_channels[0])
 * @param chMult        per level: channels = ch * mult (block_out_channels)
 * @param numResBlocks  ResnetBlocks per encoder level; the decoder has one more (layers_per_block)
 * @param inChannels    image channels (in_channels)
 * @param zChannels     latent channels (latent_channels)
 * @param scalingFactor latents are multiplied by this before the UNet (scaling_factor: 0.18215 SD1/2, 0.13025 SDXL)
 */
public record VaeConfig(int ch, int[] chMult, int numResBlocks, int inChannels, int zChannels, double scalingFactor) {

    public VaeConfig {
        chMult = chMult.clone();
    }

    public static VaeConfig sd() {
        return new VaeConfig(128, new int[] {1, 2, 4, 4}, 2, 3, 4, 0.18215);
    }

    public static VaeConfig sdxl() {
        return new VaeConfig(128, new int[] {1, 2, 4, 4}, 2, 3, 4, 0.13025);
    }

    /** Two levels of 32 and 64 channels: 2x downsampling, for the embedded tiny model. */
    public static VaeConfig tiny() {
        return new VaeConfig(32, new int[] {1, 2}, 1, 3, 4, 0.18215);
    }

    public int levels() {
        return chMult.length;
    }

    /** Pixels per latent along each axis: 2^(levels - 1). */
    public int downscale() {
        return 1 << (levels() - 1);
    }

    @Override
    public int[] chMult() {
        return chMult.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof VaeConfig v && ch == v.ch && Arrays.equals(chMult, v.chMult) && numResBlocks == v.numResBlocks
                && inChannels == v.inChannels && zChannels == v.zChannels && scalingFactor == v.scalingFactor;
    }

    @Override
    public int hashCode() {
        return ch * 31 + Arrays.hashCode(chMult);
    }

    @Override
    public String toString() {
        return "VaeConfig[channels " + ch + " x " + Arrays.toString(chMult) + ", res blocks " + numResBlocks + ", latent " + zChannels
                + ", scale " + scalingFactor + "]";
    }
}
