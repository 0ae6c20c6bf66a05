package dev.sumi.model.unet;

import dev.sumi.nn.ParamList;
import dev.sumi.nn.ParamSpec;

import java.util.List;

/**
 * Every parameter of the LDM UNet under its checkpoint name (without the {@code model.diffusion_model.}
 * prefix), in the order the LDM modules register them. Indices follow LDM's nn.Sequential slots:
 * {@code time_embed.1} and {@code out.1} are SiLU (no parameters), {@code input_blocks.N.0} is a
 * ResBlock or a Downsample, {@code .1} a SpatialTransformer, and so on.
 */
public final class UNetLayout {
    private UNetLayout() {}

    public static List<ParamSpec> parameters(UNetConfig c) {
        ParamList p = new ParamList();
        int te = c.timeEmbedDim();
        p.linear("time_embed.0", c.modelChannels(), te, true);   // time_embed.1 is SiLU
        p.linear("time_embed.2", te, te, true);
        if (c.admInChannels() > 0) {
            p.linear("label_emb.0.0", c.admInChannels(), te, true);  // label_emb.0.1 is SiLU
            p.linear("label_emb.0.2", te, te, true);
        }
        p.conv("input_blocks.0.0", c.inChannels(), c.modelChannels(), 3);

        int[] skipChannels = new int[64];
        int skips = 0;
        skipChannels[skips++] = c.modelChannels();
        int ch = c.modelChannels(), block = 1;
        for (int level = 0; level < c.levels(); level++) {
            int out = c.channels(level);
            for (int r = 0; r < c.numResBlocks(); r++, block++) {
                resBlock(p, "input_blocks." + block + ".0", ch, out, te);
                ch = out;
                if (c.transformerDepth()[level] > 0) spatialTransformer(p, "input_blocks." + block + ".1", ch, c.transformerDepth()[level], c);
                skipChannels[skips++] = ch;
            }
            if (level < c.levels() - 1) {
                p.conv("input_blocks." + block + ".0.op", ch, ch, 3);   // Downsample, stride 2
                skipChannels[skips++] = ch;
                block++;
            }
        }

        resBlock(p, "middle_block.0", ch, ch, te);
        spatialTransformer(p, "middle_block.1", ch, c.middleDepth(), c);
        resBlock(p, "middle_block.2", ch, ch, te);

        block = 0;
        for (int level = c.levels() - 1; level >= 0; level--) {
            int out = c.channels(level);
            for (int r = 0; r <= c.numResBlocks(); r++, block++) {
                int in = ch + skipChannels[--skips];
                resBlock(p, "output_blocks." + block + ".0", in, out, te);
                ch = out;
                int slot = 1;
                if (c.transformerDepth()[level] > 0) spatialTransformer(p, "output_blocks." + block + "." + slot++, ch, c.transformerDepth()[level], c);
                if (level > 0 && r == c.numResBlocks()) p.conv("output_blocks." + block + "." + slot + ".conv", ch, ch, 3);  // Upsample
            }
        }
        p.norm("out.0", ch);   // out.1 is SiLU
        p.conv("out.2", ch, c.outChannels(), 3);
        return p.build();
    }

    /** ResBlock: GroupNorm, SiLU, conv, + timestep projection, GroupNorm, SiLU, dropout, conv; 1x1 skip if widths differ. */
    static void resBlock(ParamList p, String prefix, int in, int out, int timeEmbedDim) {
        p.norm(prefix + ".in_layers.0", in);
        p.conv(prefix + ".in_layers.2", in, out, 3);
        p.linear(prefix + ".emb_layers.1", timeEmbedDim, out, true);
        p.norm(prefix + ".out_layers.0", out);
        p.conv(prefix + ".out_layers.3", out, out, 3);
        if (in != out) p.conv(prefix + ".skip_connection", in, out, 1);
    }

    /** SpatialTransformer: GroupNorm, proj_in, {@code depth} BasicTransformerBlocks, proj_out. */
    static void spatialTransformer(ParamList p, String prefix, int ch, int depth, UNetConfig c) {
        p.norm(prefix + ".norm", ch);
        projection(p, prefix + ".proj_in", ch, c.linearProjection());
        for (int d = 0; d < depth; d++) {
            String b = prefix + ".transformer_blocks." + d;
            attention(p, b + ".attn1", ch, ch);
            p.linear(b + ".ff.net.0.proj", ch, ch * 8L, true);  // GEGLU: value and gate, 4 * ch each
            p.linear(b + ".ff.net.2", ch * 4L, ch, true);
            attention(p, b + ".attn2", ch, c.contextDim());
            p.norm(b + ".norm1", ch);
            p.norm(b + ".norm2", ch);
            p.norm(b + ".norm3", ch);
        }
        projection(p, prefix + ".proj_out", ch, c.linearProjection());
    }

    static void attention(ParamList p, String prefix, int ch, int contextDim) {
        p.linear(prefix + ".to_q", ch, ch, false);
        p.linear(prefix + ".to_k", contextDim, ch, false);
        p.linear(prefix + ".to_v", contextDim, ch, false);
        p.linear(prefix + ".to_out.0", ch, ch, true);
    }

    static void projection(ParamList p, String prefix, int ch, boolean linear) {
        if (linear) p.linear(prefix, ch, ch, true);
        else p.conv(prefix, ch, ch, 1);
    }
}
