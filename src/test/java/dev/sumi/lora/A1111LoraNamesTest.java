package dev.sumi.lora;

import dev.sumi.lora.A1111LoraNames.Modules;
import dev.sumi.lora.A1111LoraNames.Target;
import dev.sumi.model.KeyMap;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNetLayout;
import dev.sumi.nn.ParamSpec;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class A1111LoraNamesTest {

    static void lands(Lineage l, String kohya, String ldmModule, int part) {
        Target t = A1111LoraNames.resolve(kohya, A1111LoraNames.standard(l));
        assertTrue(t != null, kohya + " resolves to nothing");
        assertEquals(ldmModule, t.module().ldmKey(), kohya);
        assertEquals(part, t.qkvPart(), kohya);
    }

    @Test
    void knownNamesLandWhereA1111PutsThem() {
        lands(Lineage.SD1, "lora_unet_down_blocks_0_attentions_0_proj_in", "model.diffusion_model.input_blocks.1.1.proj_in", -1);
        lands(Lineage.SD1, "lora_unet_down_blocks_0_attentions_1_transformer_blocks_0_attn2_to_k",
                "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k", -1);
        lands(Lineage.SD1, "lora_unet_mid_block_attentions_0_proj_out", "model.diffusion_model.middle_block.1.proj_out", -1);
        lands(Lineage.SD1, "lora_unet_mid_block_resnets_1_conv2", "model.diffusion_model.middle_block.2.out_layers.3", -1);
        lands(Lineage.SD1, "lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_ff_net_0_proj",
                "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.ff.net.0.proj", -1);
        lands(Lineage.SD1, "lora_unet_down_blocks_1_resnets_0_conv1", "model.diffusion_model.input_blocks.4.0.in_layers.2", -1);
        lands(Lineage.SD1, "lora_unet_down_blocks_1_resnets_0_conv_shortcut", "model.diffusion_model.input_blocks.4.0.skip_connection", -1);
        lands(Lineage.SD1, "lora_unet_up_blocks_1_resnets_2_time_emb_proj", "model.diffusion_model.output_blocks.5.0.emb_layers.1", -1);
        lands(Lineage.SD1, "lora_unet_down_blocks_2_downsamplers_0_conv", "model.diffusion_model.input_blocks.9.0.op", -1);
        lands(Lineage.SD1, "lora_unet_up_blocks_0_upsamplers_0_conv", "model.diffusion_model.output_blocks.2.1.conv", -1);
        lands(Lineage.SD1, "lora_unet_up_blocks_2_upsamplers_0_conv", "model.diffusion_model.output_blocks.8.2.conv", -1);
        lands(Lineage.SD1, "lora_unet_conv_in", "model.diffusion_model.input_blocks.0.0", -1);
        lands(Lineage.SD1, "lora_unet_time_embedding_linear_2", "model.diffusion_model.time_embed.2", -1);
        lands(Lineage.SD1, "lora_te_text_model_encoder_layers_0_self_attn_q_proj",
                "cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj", -1);
        // SD 2: OpenCLIP's fused attention through re_x_proj; mlp names rewritten
        lands(Lineage.SD2, "lora_te_text_model_encoder_layers_3_self_attn_v_proj", "cond_stage_model.model.transformer.resblocks.3.attn", 2);
        lands(Lineage.SD2, "lora_te_text_model_encoder_layers_3_self_attn_out_proj", "cond_stage_model.model.transformer.resblocks.3.attn.out_proj", -1);
        lands(Lineage.SD2, "lora_te_text_model_encoder_layers_22_mlp_fc2", "cond_stage_model.model.transformer.resblocks.22.mlp.c_proj", -1);
        // SDXL: kohya's LDM-style UNet names and te1/te2 through the fallbacks
        lands(Lineage.SDXL, "lora_unet_input_blocks_4_1_transformer_blocks_1_attn1_to_q",
                "model.diffusion_model.input_blocks.4.1.transformer_blocks.1.attn1.to_q", -1);
        lands(Lineage.SDXL, "lora_te1_text_model_encoder_layers_11_mlp_fc1", "conditioner.embedders.0.transformer.text_model.encoder.layers.11.mlp.fc1", -1);
        lands(Lineage.SDXL, "lora_te2_text_model_encoder_layers_31_self_attn_k_proj", "conditioner.embedders.1.model.transformer.resblocks.31.attn", 1);
        lands(Lineage.SDXL, "lora_te2_text_model_encoder_layers_0_mlp_fc1", "conditioner.embedders.1.model.transformer.resblocks.0.mlp.c_fc", -1);
    }

    @Test
    void namesA1111DoesNotKnowAreUnmatched() {
        Modules sd1 = A1111LoraNames.standard(Lineage.SD1);
        assertNull(A1111LoraNames.resolve("lora_unet_no_such_module", sd1));
        assertNull(A1111LoraNames.resolve("lora_unet_down_blocks_3_attentions_0_proj_in", sd1));   // SD1's last level has no attention
        assertNull(A1111LoraNames.resolve("lora_te2_text_model_encoder_layers_0_mlp_fc1", sd1));
        assertNull(A1111LoraNames.resolve("lora_te_text_model_encoder_layers_12_mlp_fc1", sd1));    // CLIP-L has 12 layers
        assertEquals(Map.of("lora_unet_nope.alpha", "lora_unet_nope", "lora_unet_down_blocks_9_resnets_0_conv1.lora_up.weight",
                        "diffusion_model_input_blocks_28_0_in_layers_2"),
                A1111LoraNames.unmatchedKeys(List.of("lora_unet_nope.alpha", "lora_unet_down_blocks_9_resnets_0_conv1.lora_up.weight",
                        "lora_unet_conv_out.alpha"), sd1));
    }

    /**
     * Two independent derivations must agree: the kohya name of every Linear/Conv weight of SD 1.5 and SD 2.1
     * (diffusers' names from KeyMap, which is checked against diffusers' own conversion scripts) resolves by A1111's
     * regexes to the module that holds that weight.
     */
    @Test
    void everyDiffusersNamedModuleOfSd1AndSd2LandsOnItsOwnWeight() {
        for (Lineage l : List.of(Lineage.SD1, Lineage.SD2)) {
            List<String> wrong = new ArrayList<>();
            int n = 0;
            UNetConfig unet = l == Lineage.SD1 ? UNetConfig.sd1() : UNetConfig.sd2();
            TextEncoderConfig te = l == Lineage.SD1 ? TextEncoderConfig.clipL() : TextEncoderConfig.openClipH();
            n += check(l, Component.UNET, UNetLayout.parameters(unet), "lora_unet_", wrong);
            n += check(l, Component.TEXT_ENCODER, TextEncoderLayout.parameters(te), "lora_te_", wrong);
            assertEquals(List.of(), wrong, l + ": names that land elsewhere");
            assertTrue(n > 250, l + ": only " + n + " modules checked");
        }
    }

    /** SDXL text encoders by kohya's te1/te2 names. */
    @Test
    void everySdxlTextEncoderModuleLandsOnItsOwnWeight() {
        List<String> wrong = new ArrayList<>();
        int n = check(Lineage.SDXL, Component.TEXT_ENCODER, TextEncoderLayout.parameters(TextEncoderConfig.clipL()), "lora_te1_", wrong);
        n += check(Lineage.SDXL, Component.TEXT_ENCODER_2, TextEncoderLayout.parameters(TextEncoderConfig.openClipBigG()), "lora_te2_", wrong);
        assertEquals(List.of(), wrong);
        assertEquals(12 * 6 + 32 * 6, n);
    }

    private static int check(Lineage l, Component c, List<ParamSpec> params, String prefix, List<String> wrong) {
        Modules modules = A1111LoraNames.standard(l);
        int n = 0;
        for (ParamSpec p : params) {
            if (p.shape().length != 2 && p.shape().length != 4) continue;
            String ldm = KeyMap.prefix(l, c) + p.name();
            if (KeyMap.isUnused(l, c, ldm)) continue;
            List<String> diffusers = KeyMap.toDiffusersAll(l, c, ldm);
            for (int part = 0; part < diffusers.size(); part++) {
                String d = diffusers.get(part);
                if (!d.endsWith(".weight") || d.contains("embeddings") || d.contains("text_projection")) continue;
                String kohya = prefix + d.substring(0, d.length() - ".weight".length()).replace('.', '_');
                Target t = A1111LoraNames.resolve(kohya, modules);
                String want = diffusers.size() > 1 ? ldm.replace(".in_proj_weight", "") + "#" + part : ldm.replace(".weight", "");
                String got = t == null ? "nothing" : t.module().ldmKey() + (t.qkvPart() >= 0 ? "#" + t.qkvPart() : "");
                if (!want.equals(got)) wrong.add(kohya + " -> " + got + " (want " + want + ")");
                n++;
            }
        }
        return n;
    }
}
