package dev.sumi.model;

import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNetLayout;
import dev.sumi.model.vae.VaeConfig;
import dev.sumi.model.vae.VaeLayout;
import dev.sumi.nn.ParamSpec;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ArchitectureDetectorTest {

    static void put(Map<String, long[]> m, String prefix, List<ParamSpec> params) {
        for (ParamSpec p : params) m.put(prefix + p.name(), p.shape());
    }

    static Map<String, long[]> checkpoint(UNetConfig u, VaeConfig v, LdmComponent teSlot, TextEncoderConfig te,
                                          LdmComponent te2Slot, TextEncoderConfig te2) {
        Map<String, long[]> m = new LinkedHashMap<>();
        put(m, LdmComponent.UNET.prefix, UNetLayout.parameters(u));
        put(m, LdmComponent.VAE.prefix, VaeLayout.parameters(v));
        put(m, teSlot.prefix, TextEncoderLayout.parameters(te));
        if (te2 != null) put(m, te2Slot.prefix, TextEncoderLayout.parameters(te2));
        m.put("alphas_cumprod", new long[] {1000});   // schedule buffers real files carry
        m.put("model_ema.decay", new long[] {});
        return m;
    }

    @Test
    void sd15() {
        Map<String, long[]> m = checkpoint(UNetConfig.sd1(), VaeConfig.sd(), LdmComponent.TEXT_ENCODER_CLIP, TextEncoderConfig.clipL(), null, null);
        m.put("cond_stage_model.transformer.text_model.embeddings.position_ids", new long[] {1, 77});
        ModelArchitecture a = ArchitectureDetector.detect(m, Map.of(), "sd15.safetensors");
        assertEquals("SD 1.x", a.family());
        assertEquals(UNetConfig.sd1(), a.unet());
        assertEquals(VaeConfig.sd(), a.vae());
        assertEquals(TextEncoderConfig.clipL(), a.textEncoders().getFirst().config());
    }

    @Test
    void sd21() {
        Map<String, long[]> m = checkpoint(UNetConfig.sd2(), VaeConfig.sd(), LdmComponent.TEXT_ENCODER_OPENCLIP, TextEncoderConfig.openClipH(), null, null);
        ModelArchitecture a = ArchitectureDetector.detect(m, Map.of(), "sd21.safetensors");
        assertEquals("SD 2.x", a.family());
        assertEquals(UNetConfig.sd2(), a.unet());
        assertEquals(TextEncoderConfig.openClipH(), a.textEncoders().getFirst().config());
    }

    @Test
    void sdxl() {
        Map<String, long[]> m = checkpoint(UNetConfig.sdxl(), VaeConfig.sdxl(), LdmComponent.SDXL_TEXT_ENCODER_1, TextEncoderConfig.clipL(),
                LdmComponent.SDXL_TEXT_ENCODER_2, TextEncoderConfig.openClipBigG());
        ModelArchitecture a = ArchitectureDetector.detect(m, Map.of(), "sdxl.safetensors");
        assertEquals("SDXL base", a.family());
        assertEquals(UNetConfig.sdxl(), a.unet());
        assertEquals(2, a.textEncoders().size());
        assertEquals(TextEncoderConfig.openClipBigG(), a.textEncoders().get(1).config());
    }

    @Test
    void inpaintingIsNamed() {
        UNetConfig s = UNetConfig.sd1();
        UNetConfig inpaint = new UNetConfig(9, 4, 320, s.channelMult(), 2, s.transformerDepth(), 1, 768, 8, -1, false, 0);
        Map<String, long[]> m = checkpoint(inpaint, VaeConfig.sd(), LdmComponent.TEXT_ENCODER_CLIP, TextEncoderConfig.clipL(), null, null);
        assertEquals("SD 1.x inpainting", ArchitectureDetector.detect(m, Map.of(), "x").family());
    }

    @Test
    void customWidthsNeedHeadsFromMetadata() {
        TextEncoderConfig te = TextEncoderConfig.tiny(1000);
        UNetConfig u = UNetConfig.tiny(te.width());
        Map<String, long[]> m = checkpoint(u, VaeConfig.tiny(), LdmComponent.TEXT_ENCODER_CLIP, te, null, null);
        ModelArchitecture a = ArchitectureDetector.detect(m, Map.of("sumi.unet.heads", "4", "sumi.text_encoder.heads", "4"), "tiny");
        assertTrue(a.family().startsWith("custom"), a.family());
        assertEquals(u, a.unet());
        assertEquals(VaeConfig.tiny(), a.vae());
        assertEquals(te, a.textEncoders().getFirst().config());
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ArchitectureDetector.detect(m, Map.of(), "tiny.safetensors"));
        assertTrue(e.getMessage().startsWith("tiny.safetensors: text encoder") && e.getMessage().contains("heads"), e.getMessage());
    }

    @Test
    void aMissingOrMisshapenTensorIsNamed() {
        Map<String, long[]> m = checkpoint(UNetConfig.sd1(), VaeConfig.sd(), LdmComponent.TEXT_ENCODER_CLIP, TextEncoderConfig.clipL(), null, null);
        m.remove("model.diffusion_model.output_blocks.4.1.proj_out.bias");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> ArchitectureDetector.detect(m, Map.of(), "cut.safetensors"));
        assertEquals("cut.safetensors: UNet: missing tensor output_blocks.4.1.proj_out.bias [1280]", e.getMessage());
        m.put("model.diffusion_model.output_blocks.4.1.proj_out.bias", new long[] {1281});
        e = assertThrows(ModelFormatException.class, () -> ArchitectureDetector.detect(m, Map.of(), "cut.safetensors"));
        assertTrue(e.getMessage().contains("has shape [1281], expected [1280]"), e.getMessage());
    }

    @Test
    void componentsMayBeAbsent() {
        Map<String, long[]> m = new LinkedHashMap<>();
        put(m, LdmComponent.UNET.prefix, UNetLayout.parameters(UNetConfig.sd1()));
        ModelArchitecture a = ArchitectureDetector.detect(m, Map.of(), "unet-only");
        assertEquals("SD 1.x", a.family());
        assertEquals(null, a.vae());
        assertTrue(a.textEncoders().isEmpty());
    }

    @Test
    void lorasAndDiffusersComponentsAreNotCheckpoints() {
        ModelFormatException lora = assertThrows(ModelFormatException.class,
                () -> ArchitectureDetector.detect(Map.of("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", new long[] {4, 320}), Map.of(), "l.safetensors"));
        assertTrue(lora.getMessage().contains("LoRA"), lora.getMessage());
        ModelFormatException diff = assertThrows(ModelFormatException.class,
                () -> ArchitectureDetector.detect(Map.of("down_blocks.0.resnets.0.conv1.weight", new long[] {320, 320, 3, 3}), Map.of(), "u.safetensors"));
        assertTrue(diff.getMessage().contains("diffusers"), diff.getMessage());
        ModelFormatException other = assertThrows(ModelFormatException.class,
                () -> ArchitectureDetector.detect(Map.of("weight", new long[] {3}), Map.of(), "o.safetensors"));
        assertTrue(other.getMessage().startsWith("o.safetensors: not a Stable Diffusion checkpoint"), other.getMessage());
    }
}
