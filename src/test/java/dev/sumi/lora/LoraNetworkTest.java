package dev.sumi.lora;

import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.unet.UNetConfig;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** kohya's module set for the full-size layouts (no weights), its init, and the export / load round trip. */
class LoraNetworkTest {

    static LoraNetwork sd15(LoraOptions o) {
        return LoraNetwork.create(o, Lineage.SD1, UNetConfig.sd1(), TextEncoderConfig.clipL());
    }

    @Test
    void sd15CountsAsKohya() {
        LoraNetwork plain = sd15(LoraOptions.of(4, 1, 1));
        assertEquals(192, plain.modules(Component.UNET).size());
        assertEquals(72, plain.modules(Component.TEXT_ENCODER).size());
        assertEquals(264, plain.modules().size());
        // LoCon adds every ResnetBlock2D child (22 x conv1, conv2, time_emb_proj; 14 conv_shortcut), 3 Downsample2D, 3 Upsample2D
        LoraNetwork locon = sd15(LoraOptions.of(4, 1, 1).withConv(2, 1));
        assertEquals(350, locon.modules().size());
        assertEquals(192, sd15(LoraOptions.of(4, 1, 1).only(true, false)).modules().size());
        assertEquals(72, sd15(LoraOptions.of(4, 1, 1).only(false, true)).modules().size());
        // SD 2.x: diffusers keeps 23 text layers; q, k, v are parts of OpenCLIP's stacked in_proj
        LoraNetwork sd2 = LoraNetwork.create(LoraOptions.of(4, 1, 1), Lineage.SD2, UNetConfig.sd2(), TextEncoderConfig.openClipH());
        assertEquals(23 * 6, sd2.modules(Component.TEXT_ENCODER).size());
        assertEquals(192, sd2.modules(Component.UNET).size());
        assertEquals(new LoraSite("transformer.resblocks.0.attn.in_proj_weight", 1), sd2.module("lora_te_text_model_encoder_layers_0_self_attn_k_proj").site());
    }

    @Test
    void unetNamesAgreeWithKeyMapForEveryStandardLayout() {
        for (Lineage l : new Lineage[] {Lineage.SD1, Lineage.SD2, Lineage.SDXL}) {
            UNetConfig c = switch (l) { case SD1 -> UNetConfig.sd1(); case SD2 -> UNetConfig.sd2(); case SDXL -> UNetConfig.sdxl(); };
            for (LoraModule m : LoraNetwork.modules(LoraOptions.of(4, 1, 1).withConv(4, 1).only(true, false), l, c, null)) {
                assertEquals(KohyaNames.moduleName(l, Component.UNET, m.site().weight(), 0), m.kohyaName(), l + " " + m.site());
            }
        }
    }

    @Test
    void namesShapesAndDims() {
        LoraNetwork n = sd15(new LoraOptions(8, 4, 2, 1, true, true, 1, 1));
        LoraModule projIn = n.module("lora_unet_down_blocks_0_attentions_0_proj_in");
        assertArrayEquals(new long[] {8, 320, 1, 1}, projIn.downShape());   // SD 1.x's proj_in is a 1x1 conv: network dim
        assertArrayEquals(new long[] {320, 8, 1, 1}, projIn.upShape());
        LoraModule q = n.module("lora_te_text_model_encoder_layers_0_self_attn_q_proj");
        assertArrayEquals(new long[] {8, 768}, q.downShape());
        assertEquals(4f / 8, q.scale(1));
        LoraModule conv1 = n.module("lora_unet_down_blocks_0_resnets_0_conv1");
        assertArrayEquals(new long[] {2, 320, 3, 3}, conv1.downShape());     // 3x3: conv dim and alpha
        assertArrayEquals(new long[] {320, 2, 1, 1}, conv1.upShape());
        assertEquals(1f / 2, conv1.scale(1));
        assertArrayEquals(new long[] {8, 1280}, n.module("lora_unet_down_blocks_0_resnets_0_time_emb_proj").downShape());
        assertArrayEquals(new long[] {8, 320, 1, 1}, n.module("lora_unet_down_blocks_1_resnets_0_conv_shortcut").downShape());
        assertEquals(3, n.module("lora_unet_down_blocks_0_downsamplers_0_conv").kernel());
        assertEquals(3, n.module("lora_unet_up_blocks_0_upsamplers_0_conv").kernel());
        assertEquals(new LoraSite("input_blocks.1.1.proj_in.weight", -1), projIn.site());
    }

    @Test
    void initIsKaimingUniformDownAndZeroUpFromTheSeed() {
        LoraNetwork a = sd15(LoraOptions.of(4, 1, 7)), b = sd15(LoraOptions.of(4, 1, 7)), c = sd15(LoraOptions.of(4, 1, 8));
        String name = "lora_te_text_model_encoder_layers_3_mlp_fc2";   // in 3072
        LoraTensors w = a.export().get(name);
        double bound = 1 / Math.sqrt(3072), max = 0, sumSq = 0;
        for (float v : w.down()) {
            max = Math.max(max, Math.abs(v));
            sumSq += v * v;
        }
        assertTrue(max <= bound && max > 0.95 * bound, "down within the kaiming bound " + bound + ": " + max);
        double var = sumSq / w.down().length;   // U(-b, b): b^2 / 3
        assertEquals(bound * bound / 3, var, 0.05 * bound * bound / 3);
        for (float v : w.up()) assertEquals(0f, v);
        assertArrayEquals(w.down(), b.export().get(name).down(), "same seed, same init");
        assertTrue(!java.util.Arrays.equals(w.down(), c.export().get(name).down()), "another seed, another init");
    }

    @Test
    void exportAndLoadRoundTrip() {
        LoraOptions o = LoraOptions.of(2, 1, 1).withConv(2, 1);
        LoraNetwork a = sd15(o), b = sd15(o.withConv(2, 1));
        String name = "lora_unet_mid_block_resnets_1_conv2";
        LoraModule m = a.module(name);
        float[] up = new float[(int) m.upCount()];
        up[3] = 0.5f;
        a.set(name, a.export().get(name).down(), up);
        Map<String, LoraTensors> file = new LinkedHashMap<>(a.export());
        LoraTensors w = file.get(name);
        file.put(name, new LoraTensors(name, w.down(), w.downShape(), w.up(), w.upShape(), 0.75f));
        b.load(file);
        assertArrayEquals(up, b.export().get(name).up());
        assertEquals(0.75f, b.module(name).alpha());
        assertEquals(0.75f, b.export().get(name).alpha());

        Map<String, LoraTensors> bad = new LinkedHashMap<>(file);
        // a well-formed LoRA tensor pair of the right sizes but a Linear's shapes, where the module is a 3x3 conv
        bad.put(name, new LoraTensors(name, w.down(), new long[] {2, 1280 * 9}, w.up(), new long[] {1280, 2}, 1));
        var e = assertThrows(IllegalArgumentException.class, () -> b.load(bad));
        assertTrue(e.getMessage().contains(name + ".lora_down.weight"), e.getMessage());
        Map<String, LoraTensors> extra = new LinkedHashMap<>(file);
        extra.put("lora_unet_nothing", w);
        assertThrows(IllegalArgumentException.class, () -> b.load(extra));
        Map<String, LoraTensors> missing = new LinkedHashMap<>(file);
        missing.remove(name);
        assertThrows(IllegalArgumentException.class, () -> b.load(missing));
    }
}
