package dev.sumi.lora;

import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.model.ModelFormatException;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.SafeTensorsWriter;
import dev.sumi.tensor.safetensors.StoredType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LoraInfoTest {

    @TempDir
    Path dir;

    static void module(SafeTensorsWriter w, String name, long rank, long in, long out, float alpha, boolean conv3x3) {
        long[] down = conv3x3 ? new long[] {rank, in, 3, 3} : new long[] {rank, in};
        long[] up = conv3x3 ? new long[] {out, rank, 1, 1} : new long[] {out, rank};
        w.add(name + ".lora_down.weight", StoredType.F16, down, dst -> dst.fill((byte) 0));
        w.add(name + ".lora_up.weight", StoredType.F16, up, dst -> dst.fill((byte) 0));
        w.addFloats(name + ".alpha", StoredType.F16, new long[0], new float[] {alpha});
    }

    @Test
    void aKohyaLoraForSd15() throws IOException {
        Path p = dir.resolve("char.safetensors");
        SafeTensorsWriter w = new SafeTensorsWriter();
        module(w, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 8, 320, 320, 4, false);
        module(w, "lora_unet_up_blocks_3_attentions_2_proj_out", 8, 320, 320, 4, false);
        module(w, "lora_te_text_model_encoder_layers_11_mlp_fc2", 8, 3072, 768, 4, false);
        w.metadata("ss_network_dim", "8");
        w.metadata("ss_network_alpha", "4");
        w.metadata("unrelated", "x");
        w.write(p, false);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            LoraInfo info = LoraInfo.of(f);
            assertEquals("kohya", info.format());
            assertEquals("LoRA", info.networkType());
            assertEquals(Lineage.SD1, info.fits());
            assertEquals(Map.of("UNet", 2, "text encoder", 1), info.modulesByComponent());
            assertEquals(Set.of(8), info.ranks());
            assertEquals(Set.of(4f), info.alphas());
            assertEquals(List.of(), info.unmatched());
            assertEquals(Map.of("ss_network_dim", "8", "ss_network_alpha", "4"), info.trainingMetadata());
            assertEquals(Map.of("dim", "8", "alpha", "4"), info.summary());
        }
    }

    /** SD 1.x and 2.x share UNet module names; the widths tell them apart (cross-attention k: 768 vs 1024 in). */
    @Test
    void widthsTellSd2FromSd1() throws IOException {
        Path p = dir.resolve("sd2.safetensors");
        SafeTensorsWriter w = new SafeTensorsWriter();
        module(w, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 4, 1024, 320, 4, false);
        module(w, "lora_unet_down_blocks_0_attentions_0_proj_in", 4, 320, 320, 4, false);
        w.write(p, false);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            assertEquals(Lineage.SD2, LoraInfo.of(f).fits());
        }
    }

    @Test
    void theKohyaFixtureSummarisesItsTrainingMetadata() throws IOException {
        try (SafeTensorsFile f = SafeTensorsFile.open(Path.of("src/test/resources/golden/kohya_lora_sd15.safetensors"))) {
            LoraInfo info = LoraInfo.of(f);
            assertEquals(Lineage.SD1, info.fits());
            assertEquals(List.of(), info.unmatched());
            assertTrue(info.networkType().startsWith("LoCon"), info.networkType());
            assertEquals(Map.of("network", "networks.lora {\"conv_dim\": \"2\", \"conv_alpha\": \"1\"}", "dim", "4", "alpha", "2.0",
                    "base model", "sd_v1, v1-5-pruned-emaonly.safetensors", "epoch", "2 of 3", "steps", "40", "resolution", "(512, 512)"), info.summary());
        }
    }

    @Test
    void loconAndSdxlNamesAreRecognised() throws IOException {
        Path p = dir.resolve("style.safetensors");
        SafeTensorsWriter w = new SafeTensorsWriter();
        module(w, "lora_unet_down_blocks_1_resnets_0_conv1", 4, 320, 640, 1, true);
        module(w, "lora_te2_text_model_encoder_layers_31_self_attn_q_proj", 4, 1280, 1280, 1, false);
        module(w, "lora_unet_no_such_module", 4, 8, 8, 1, false);
        w.write(p, false);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            LoraInfo info = LoraInfo.of(f);
            assertTrue(info.networkType().startsWith("LoCon"), info.networkType());
            assertEquals(Lineage.SDXL, info.fits());
            assertEquals(List.of("lora_unet_no_such_module"), info.unmatched());
        }
    }

    @Test
    void aLoraMatchingNoModuleIsRefused() throws IOException {
        Path p = dir.resolve("junk.safetensors");
        SafeTensorsWriter w = new SafeTensorsWriter();
        module(w, "lora_unet_totally_made_up", 4, 8, 8, 1, false);
        w.write(p, false);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> LoraInfo.of(f));
            assertTrue(e.getMessage().startsWith(p + ": none of its 1 modules"), e.getMessage());
        }
    }
}
