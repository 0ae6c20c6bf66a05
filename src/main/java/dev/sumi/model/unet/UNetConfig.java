package dev.sumi.model.unet;

import java.util.Arrays;

/**
 * The LDM UNet ({@code ldm.modules.diffusionmodules.openaimodel.UNetModel}) as SD 1.x, 2.x and SDXL
 * configure it. Field names follow the LDM yaml configs; the diffusers config key is in each comment.
 *
 * @param inChannels         latent channels in (in_channels)
 * @param outChannels        latent channels out (out_channels)
 * @param modelChannels      channels of the first level (block_out_channels[0])
 * @param channelMult        per level: channels = modelChannels * mult (block_out_channels)
 * @param numResBlocks       ResBlocks per level on the way down; one more on the way up (layers_per_block)
 * @param transformerDepth   per level: transformer blocks in each SpatialTransformer, 0 = no attention
 *                           at that level (transformer_layers_per_block; down_block_types)
 * @param middleDepth        transformer blocks of the middle SpatialTransformer
 * @param contextDim         width of the text conditioning (cross_attention_dim)
 * @param numHeads           attention heads, or -1 when numHeadChannels fixes the head size (attention_head_dim)
 * @param numHeadChannels    channels per head, or -1 when numHeads is fixed
 * @param linearProjection   proj_in/proj_out are Linear, not 1x1 Conv (use_linear_projection)
 * @param admInChannels      width of SDXL's pooled-text + size conditioning vector, 0 if none
 *                           (projection_class_embeddings_input_dim)
 */
public record UNetConfig(int inChannels, int outChannels, int modelChannels, int[] channelMult, int numResBlocks,
                         int[] transformerDepth, int middleDepth, int contextDim, int numHeads, int numHeadChannels,
                         boolean linearProjection, int admInChannels) {

    public UNetConfig {
        channelMult = channelMult.clone();
        transformerDepth = transformerDepth.clone();
        if (channelMult.length != transformerDepth.length) {
            throw new IllegalArgumentException("channelMult and transformerDepth need one entry per level");
        }
        if ((numHeads > 0) == (numHeadChannels > 0)) throw new IllegalArgumentException("set exactly one of numHeads and numHeadChannels");
    }

    /** SD 1.x (v1-inference.yaml): 8 heads, CLIP-L context 768, 1x1-conv projections. */
    public static UNetConfig sd1() {
        return new UNetConfig(4, 4, 320, new int[] {1, 2, 4, 4}, 2, new int[] {1, 1, 1, 0}, 1, 768, 8, -1, false, 0);
    }

    /** SD 2.x (v2-inference.yaml): 64-channel heads, OpenCLIP-H context 1024, linear projections. */
    public static UNetConfig sd2() {
        return new UNetConfig(4, 4, 320, new int[] {1, 2, 4, 4}, 2, new int[] {1, 1, 1, 0}, 1, 1024, -1, 64, true, 0);
    }

    /** SDXL base (sd_xl_base.yaml): three levels, no attention at the first, depths 2 and 10, context 2048. */
    public static UNetConfig sdxl() {
        return new UNetConfig(4, 4, 320, new int[] {1, 2, 4}, 2, new int[] {0, 2, 10}, 10, 2048, -1, 64, true, 2816);
    }

    /** The SD topology at toy width: the embedded model of {@code sumi demo} and the end-to-end tests. */
    public static UNetConfig tiny(int contextDim) {
        return new UNetConfig(4, 4, 32, new int[] {1, 2}, 1, new int[] {1, 1}, 1, contextDim, 4, -1, false, 0);
    }

    public int levels() {
        return channelMult.length;
    }

    public int channels(int level) {
        return modelChannels * channelMult[level];
    }

    public int timeEmbedDim() {
        return modelChannels * 4;
    }

    public int heads(int channels) {
        return numHeads > 0 ? numHeads : channels / numHeadChannels;
    }

    @Override
    public int[] channelMult() {
        return channelMult.clone();
    }

    @Override
    public int[] transformerDepth() {
        return transformerDepth.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof UNetConfig c && inChannels == c.inChannels && outChannels == c.outChannels && modelChannels == c.modelChannels
                && Arrays.equals(channelMult, c.channelMult) && numResBlocks == c.numResBlocks
                && Arrays.equals(transformerDepth, c.transformerDepth) && middleDepth == c.middleDepth && contextDim == c.contextDim
                && numHeads == c.numHeads && numHeadChannels == c.numHeadChannels && linearProjection == c.linearProjection
                && admInChannels == c.admInChannels;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(channelMult) * 31 + modelChannels * 7 + contextDim;
    }

    @Override
    public String toString() {
        return "UNetConfig[channels " + modelChannels + " x " + Arrays.toString(channelMult) + ", res blocks " + numResBlocks
                + ", transformer depth " + Arrays.toString(transformerDepth) + " mid " + middleDepth + ", context " + contextDim
                + (numHeads > 0 ? ", " + numHeads + " heads" : ", head size " + numHeadChannels)
                + (linearProjection ? ", linear proj" : ", conv proj") + (admInChannels > 0 ? ", adm " + admInChannels : "") + "]";
    }
}
