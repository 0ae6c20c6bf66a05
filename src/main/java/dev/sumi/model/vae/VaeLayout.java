package dev.sumi.model.vae;

import dev.sumi.nn.ParamList;
import dev.sumi.nn.ParamSpec;

import java.util.List;

/** Every parameter of the LDM AutoencoderKL under its checkpoint name, without {@code first_stage_model.}. */
public final class VaeLayout {
    private VaeLayout() {}

    public static List<ParamSpec> parameters(VaeConfig c) {
        ParamList p = new ParamList();
        int levels = c.levels();
        // Encoder: conv_in, down.i.block.j (+ downsample), mid, norm_out, conv_out to mean and logvar
        p.conv("encoder.conv_in", c.inChannels(), c.ch(), 3);
        int in = c.ch();
        for (int i = 0; i < levels; i++) {
            int out = c.ch() * c.chMult()[i];
            for (int j = 0; j < c.numResBlocks(); j++) {
                resnetBlock(p, "encoder.down." + i + ".block." + j, in, out);
                in = out;
            }
            if (i != levels - 1) p.conv("encoder.down." + i + ".downsample.conv", in, in, 3);
        }
        mid(p, "encoder.mid", in);
        p.norm("encoder.norm_out", in);
        p.conv("encoder.conv_out", in, 2L * c.zChannels(), 3);
        p.conv("quant_conv", 2L * c.zChannels(), 2L * c.zChannels(), 1);
        p.conv("post_quant_conv", c.zChannels(), c.zChannels(), 1);
        // Decoder: conv_in, mid, up.i.block.j from the deepest level (LDM stores up.0 as the last stage), norm_out, conv_out
        in = c.ch() * c.chMult()[levels - 1];
        p.conv("decoder.conv_in", c.zChannels(), in, 3);
        mid(p, "decoder.mid", in);
        for (int i = levels - 1; i >= 0; i--) {
            int out = c.ch() * c.chMult()[i];
            for (int j = 0; j <= c.numResBlocks(); j++) {
                resnetBlock(p, "decoder.up." + i + ".block." + j, in, out);
                in = out;
            }
            if (i != 0) p.conv("decoder.up." + i + ".upsample.conv", in, in, 3);
        }
        p.norm("decoder.norm_out", in);
        p.conv("decoder.conv_out", in, c.inChannels(), 3);
        return p.build();
    }

    static void resnetBlock(ParamList p, String prefix, int in, int out) {
        p.norm(prefix + ".norm1", in);
        p.conv(prefix + ".conv1", in, out, 3);
        p.norm(prefix + ".norm2", out);
        p.conv(prefix + ".conv2", out, out, 3);
        if (in != out) p.conv(prefix + ".nin_shortcut", in, out, 1);
    }

    /** block_1, a single-head self-attention over pixels (1x1 convs q, k, v, proj_out), block_2. */
    static void mid(ParamList p, String prefix, int ch) {
        resnetBlock(p, prefix + ".block_1", ch, ch);
        p.norm(prefix + ".attn_1.norm", ch);
        for (String s : new String[] {"q", "k", "v", "proj_out"}) p.conv(prefix + ".attn_1." + s, ch, ch, 1);
        resnetBlock(p, prefix + ".block_2", ch, ch);
    }
}
