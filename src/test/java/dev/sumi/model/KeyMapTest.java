package dev.sumi.model;

import dev.sumi.model.ModelArchitecture.Lineage;

import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.KeyMap.Transform;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * KeyMap against the names that diffusers' own conversion scripts produce, tensor by tensor
 * (src/test/resources/keys, made by scripts/golden-keys from diffusers v0.31.0).
 */
class KeyMapTest {

    record Pair(String diffusers, String ldm, String transform, int index) {}

    static List<String[]> lines(String resource) throws IOException {
        try (InputStream in = KeyMapTest.class.getResourceAsStream("/keys/" + resource)) {
            assertNotNull(in, "missing fixture " + resource);
            List<String[]> out = new ArrayList<>();
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String line; (line = r.readLine()) != null; ) if (!line.isEmpty()) out.add(line.split("\t"));
            return out;
        }
    }

    static Map<String, long[]> shapes(String resource) throws IOException {
        Map<String, long[]> m = new LinkedHashMap<>();
        for (String[] l : lines(resource))
            m.put(l[0], l[1].isEmpty() ? new long[0] : Arrays.stream(l[1].split(",")).mapToLong(Long::parseLong).toArray());
        return m;
    }

    static List<Pair> pairs(String resource) throws IOException {
        List<Pair> out = new ArrayList<>();
        for (String[] l : lines(resource))
            out.add(new Pair(l[0], l[1], l.length > 2 ? l[2] : "", l.length > 3 ? Integer.parseInt(l[3]) : 0));
        return out;
    }

    static long total(Map<String, long[]> shapes) {
        return shapes.values().stream().mapToLong(s -> Arrays.stream(s).reduce(1, (a, b) -> a * b)).sum();
    }

    static Transform.Kind kind(String column) {
        return switch (column) {
            case "" -> Transform.Kind.IDENTITY;
            case "reshape" -> Transform.Kind.CONV1X1;
            case "concat" -> Transform.Kind.QKV_SLICE;
            case "transpose" -> Transform.Kind.TRANSPOSE;
            default -> throw new AssertionError("unknown transform column " + column);
        };
    }

    @ParameterizedTest(name = "{0}-{1}")
    @CsvSource({
            // file family, component, family, diffusers tensors, LDM tensors, parameters
            "sd15, unet,           SD1,  UNET,            686,  686,  859520964",
            "sd15, vae,            SD1,  VAE,             248,  248,  83653863",
            "sd15, text_encoder,   SD1,  TEXT_ENCODER,    196,  196,  123060480",
            "sd21, unet,           SD2,  UNET,            686,  686,  865910724",
            "sd21, vae,            SD2,  VAE,             248,  248,  83653863",
            "sd21, text_encoder,   SD2,  TEXT_ENCODER,    372,  280,  340387840",
            "sdxl, unet,           SDXL, UNET,            1680, 1680, 2567463684",
            "sdxl, vae,            SDXL, VAE,             248,  248,  83653863",
            "sdxl, text_encoder,   SDXL, TEXT_ENCODER,    196,  196,  123060480",
            "sdxl, text_encoder_2, SDXL, TEXT_ENCODER_2,  517,  389,  694659840",
    })
    void matchesTheConversionScripts(String file, String comp, Lineage f, Component c, int nDiffusers, int nLdm,
                                     long params) throws IOException {
        String base = file + "-" + comp;
        Map<String, long[]> dShapes = shapes(base + ".diffusers.txt");
        Map<String, long[]> lShapes = shapes(base + ".ldm.txt");
        List<Pair> pairs = pairs(base + ".pairs.txt");
        assertEquals(nDiffusers, dShapes.size(), "diffusers tensors");
        assertEquals(nLdm, lShapes.size(), "LDM tensors");
        assertEquals(nDiffusers, pairs.size(), "pairs");
        assertEquals(params, total(dShapes), "parameters (diffusers)");
        assertEquals(params, total(lShapes), "parameters (LDM)");
        assertEquals(dShapes.keySet(), pairs.stream().map(Pair::diffusers).collect(java.util.stream.Collectors.toSet()));
        assertEquals(lShapes.keySet(), pairs.stream().map(Pair::ldm).collect(java.util.stream.Collectors.toSet()));

        String prefix = KeyMap.prefix(f, c);
        for (Pair p : pairs) {
            String where = base + ": " + p.diffusers() + " <-> " + p.ldm();
            assertEquals(p.ldm(), KeyMap.toLdm(f, c, p.diffusers()), where);
            Transform t = KeyMap.transformFor(f, c, p.diffusers());
            assertEquals(kind(p.transform()), t.kind(), where);
            List<String> back = KeyMap.toDiffusersAll(f, c, p.ldm());
            if (t.kind() == Transform.Kind.QKV_SLICE) {
                assertEquals(p.index(), t.part(), where);
                assertEquals(3, back.size(), where);
                assertEquals(p.diffusers(), back.get(p.index()), where);
                assertThrows(IllegalArgumentException.class, () -> KeyMap.toDiffusers(f, c, p.ldm()));
            } else {
                assertEquals(List.of(p.diffusers()), back, where);
                assertEquals(p.diffusers(), KeyMap.toDiffusers(f, c, p.ldm()), where);
            }
            long[] ds = dShapes.get(p.diffusers()), ls = lShapes.get(p.ldm());
            assertArrayEquals(ls, t.ldmShape(ds), where);
            assertArrayEquals(ds, t.diffusersShape(ls), where);
            assertTrue(p.ldm().startsWith(prefix), where);
            assertEquals(c, KeyMap.componentOf(f, p.ldm()), where);
            assertFalse(KeyMap.isUnused(f, c, p.ldm()), where);
        }
    }

    @Test
    void sd15CountsUnderTheirPrefixes() throws IOException {
        assertEquals(686, shapes("sd15-unet.ldm.txt").keySet().stream().filter(k -> k.startsWith("model.diffusion_model.")).count());
        assertEquals(248, shapes("sd15-vae.ldm.txt").keySet().stream().filter(k -> k.startsWith("first_stage_model.")).count());
        assertEquals(196, shapes("sd15-text_encoder.ldm.txt").keySet().stream()
                .filter(k -> k.startsWith("cond_stage_model.transformer.text_model.")).count());
    }

    @Test
    void prefixes() {
        assertEquals("model.diffusion_model.", KeyMap.prefix(Lineage.SD2, Component.UNET));
        assertEquals("first_stage_model.", KeyMap.prefix(Lineage.SDXL, Component.VAE));
        assertEquals("cond_stage_model.transformer.", KeyMap.prefix(Lineage.SD1, Component.TEXT_ENCODER));
        assertEquals("cond_stage_model.model.", KeyMap.prefix(Lineage.SD2, Component.TEXT_ENCODER));
        assertEquals("conditioner.embedders.0.transformer.", KeyMap.prefix(Lineage.SDXL, Component.TEXT_ENCODER));
        assertEquals("conditioner.embedders.1.model.", KeyMap.prefix(Lineage.SDXL, Component.TEXT_ENCODER_2));
        assertThrows(IllegalArgumentException.class, () -> KeyMap.prefix(Lineage.SD1, Component.TEXT_ENCODER_2));
        assertNull(KeyMap.componentOf(Lineage.SD1, "alphas_cumprod"));
        assertNull(KeyMap.componentOf(Lineage.SD1, "model_ema.decay"));
        assertNull(KeyMap.componentOf(Lineage.SD1, "conditioner.embedders.1.model.ln_final.weight"));
    }

    @Test
    void unknownNamesAreNamed() {
        var e = assertThrows(KeyMap.UnknownKeyException.class,
                () -> KeyMap.toLdm(Lineage.SD1, Component.UNET, "down_blocks.0.resnets.0.bogus.weight"));
        assertTrue(e.getMessage().contains("down_blocks.0.resnets.0.bogus.weight"), e.getMessage());
        e = assertThrows(KeyMap.UnknownKeyException.class, () -> KeyMap.toLdm(Lineage.SD1, Component.UNET, "nope.weight"));
        assertEquals("nope.weight", e.key);
        // SD 1.x has attention at the highest resolution, SDXL does not
        assertThrows(KeyMap.UnknownKeyException.class,
                () -> KeyMap.toLdm(Lineage.SDXL, Component.UNET, "down_blocks.0.attentions.0.proj_in.weight"));
        assertThrows(KeyMap.UnknownKeyException.class,
                () -> KeyMap.toDiffusers(Lineage.SD1, Component.VAE, "model.diffusion_model.out.0.weight"));
        assertThrows(KeyMap.UnknownKeyException.class,
                () -> KeyMap.toDiffusers(Lineage.SD2, Component.TEXT_ENCODER, "cond_stage_model.model.transformer.resblocks.0.attn.bogus"));
    }

    @Test
    void keysCarriedByRealCheckpointsButNotByDiffusers() {
        assertTrue(KeyMap.isUnused(Lineage.SD1, Component.TEXT_ENCODER, "cond_stage_model.transformer.text_model.embeddings.position_ids"));
        assertTrue(KeyMap.isUnused(Lineage.SDXL, Component.TEXT_ENCODER, "conditioner.embedders.0.transformer.text_model.embeddings.position_ids"));
        assertTrue(KeyMap.isUnused(Lineage.SD2, Component.TEXT_ENCODER, "cond_stage_model.model.text_projection"));
        assertTrue(KeyMap.isUnused(Lineage.SD2, Component.TEXT_ENCODER, "cond_stage_model.model.logit_scale"));
        assertTrue(KeyMap.isUnused(Lineage.SD2, Component.TEXT_ENCODER, "cond_stage_model.model.transformer.resblocks.23.ln_1.weight"));
        assertTrue(KeyMap.isUnused(Lineage.SDXL, Component.TEXT_ENCODER_2, "conditioner.embedders.1.model.logit_scale"));
        assertFalse(KeyMap.isUnused(Lineage.SDXL, Component.TEXT_ENCODER_2, "conditioner.embedders.1.model.text_projection"));
        assertFalse(KeyMap.isUnused(Lineage.SDXL, Component.TEXT_ENCODER_2, "conditioner.embedders.1.model.transformer.resblocks.23.ln_1.weight"));
        // the 24th OpenCLIP-H layer still has a name on the diffusers side
        assertEquals("text_model.encoder.layers.23.layer_norm1.weight",
                KeyMap.toDiffusers(Lineage.SD2, Component.TEXT_ENCODER, "cond_stage_model.model.transformer.resblocks.23.ln_1.weight"));
    }

    @Test
    void legacyNamesAreRead() {
        // diffusers < 0.14 VAE attention names
        assertEquals("first_stage_model.decoder.mid.attn_1.q.weight",
                KeyMap.toLdm(Lineage.SD1, Component.VAE, "decoder.mid_block.attentions.0.query.weight"));
        assertEquals(Transform.Kind.CONV1X1,
                KeyMap.transformFor(Lineage.SD1, Component.VAE, "decoder.mid_block.attentions.0.proj_attn.weight").kind());
        // CLIP checkpoints saved by old transformers, without "text_model."
        assertEquals("text_model.encoder.layers.3.mlp.fc1.weight",
                KeyMap.toDiffusers(Lineage.SD1, Component.TEXT_ENCODER, "cond_stage_model.transformer.encoder.layers.3.mlp.fc1.weight"));
        assertEquals("text_model.embeddings.token_embedding.weight",
                KeyMap.toDiffusers(Lineage.SD1, Component.TEXT_ENCODER, "cond_stage_model.transformer.embeddings.token_embedding.weight"));
    }

    @Test
    void suffixesInsideAModuleCarryOver() {
        assertEquals("model.diffusion_model.output_blocks.5.1.transformer_blocks.0.attn2.to_k.lora_down.weight",
                KeyMap.toLdm(Lineage.SD1, Component.UNET, "up_blocks.1.attentions.2.transformer_blocks.0.attn2.to_k.lora_down.weight"));
        assertEquals("up_blocks.0.attentions.2.transformer_blocks.9.ff.net.2.weight",
                KeyMap.toDiffusers(Lineage.SDXL, Component.UNET, "model.diffusion_model.output_blocks.2.1.transformer_blocks.9.ff.net.2.weight"));
    }

    @Test
    void transformShapes() {
        assertArrayEquals(new long[] {512, 512, 1, 1}, Transform.CONV1X1.ldmShape(new long[] {512, 512}));
        assertArrayEquals(new long[] {3072, 1024}, Transform.qkv(2).ldmShape(new long[] {1024, 1024}));
        assertArrayEquals(new long[] {1024}, Transform.qkv(1).diffusersShape(new long[] {3072}));
        assertArrayEquals(new long[] {1280, 1024}, Transform.TRANSPOSE.ldmShape(new long[] {1024, 1280}));
        assertThrows(IllegalArgumentException.class, () -> Transform.CONV1X1.diffusersShape(new long[] {512, 512, 3, 3}));
    }
}
