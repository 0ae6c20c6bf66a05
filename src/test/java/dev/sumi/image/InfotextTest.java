package dev.sumi.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class InfotextTest {
    private static Map<String, String> extras(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put(kv[i], kv[i + 1]);
        return m;
    }

    private static final Infotext FULL = new Infotext("a cat, sitting on a mat", "blurry, lowres", 20, "Euler a", 7, 1234,
            512, 768, "0123abcdef", "sd15-pruned", 2,
            extras("Lora hashes", "mylora: abcdef012345, other: 0123456789ab", "Denoising strength", "0.7"), "sumi 0.1");

    @Test
    void textIsA1111sFormat() {
        assertEquals("""
                a cat, sitting on a mat
                Negative prompt: blurry, lowres
                Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x768, Model hash: 0123abcdef, \
                Model: sd15-pruned, Clip skip: 2, Lora hashes: "mylora: abcdef012345, other: 0123456789ab", \
                Denoising strength: 0.7, Version: sumi 0.1""", FULL.text());
    }

    @Test
    void optionalEntriesAreLeftOut() {
        Infotext plain = new Infotext("cat", null, 30, "DPM++ 2M Karras", 7.5, 42, 64, 64, null, "", 1, null, null);
        assertEquals("cat\nSteps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 42, Size: 64x64", plain.text());
        assertEquals("", plain.negativePrompt());
        assertNull(plain.modelName());
        assertEquals(Map.of(), plain.extras());
    }

    @Test
    void numbersPrintAsA1111Prints() {
        assertEquals("7", Infotext.formatNumber(7.0));
        assertEquals("7.5", Infotext.formatNumber(7.5));
        assertEquals("0.1", Infotext.formatNumber(0.1));
        assertEquals("12.25", Infotext.formatNumber(12.25));
        assertEquals("-3", Infotext.formatNumber(-3.0));
    }

    @Test
    void quotingIsJsonDumpsWithoutAsciiEscapes() {
        assertEquals("plain", Infotext.quote("plain"));
        assertEquals("say \"hi\"", Infotext.quote("say \"hi\"")); // A1111 quotes only for ',', ':' and newlines
        assertEquals("\"a, b\"", Infotext.quote("a, b"));
        assertEquals("\"k: v\"", Infotext.quote("k: v"));
        assertEquals("\"x\\ny\"", Infotext.quote("x\ny"));
        assertEquals("\"q\\\"t\\\\, \\t\\u0001 猫\"", Infotext.quote("q\"t\\, \t\u0001 猫"));
        for (String v : List.of("a, b", "x\ny", "q\"t\\, \t\u0001 猫", "é: ü"))
            assertEquals(v, Infotext.unquote(Infotext.quote(v)));
        assertEquals("\"broken", Infotext.unquote("\"broken"));
        assertEquals("\"a\"b\"", Infotext.unquote("\"a\"b\"")); // json.loads fails: left as written
        assertEquals("é", Infotext.unquote("\"\\u00e9\""));
    }

    @Test
    void parseReadsBackWhatTextWrites() {
        List<Infotext> cases = List.of(FULL,
                new Infotext("猫の絵\nsecond line, (masterpiece:1.2)", "", 1, "DDIM", 12.5, -1, 640, 384, null, null, 1, null, null),
                new Infotext("", "only negative", 50, "Euler", 0.5, 4294967295L, 8, 8, "abcdef0123", "model, with comma",
                        3, extras("Note", "line\nbreak", "Hires upscaler", "Latent"), "v1.10.1"));
        for (Infotext t : cases) {
            Infotext back = Infotext.parse(t.text());
            assertEquals(t, back);
            assertEquals(List.copyOf(t.extras().keySet()), List.copyOf(back.extras().keySet()), "extras keep their order");
        }
    }

    @Test
    void parsesA1111sOwnInfotexts() {
        // the example in infotext_utils.parse_generation_parameters' docstring
        Infotext old = Infotext.parse("""
                girl with an artist's beret, determined, blue eyes, desert scene, computer monitors, heavy makeup
                Negative prompt: ugly, fat, obese, chubby, (((deformed))), [blurry], bad anatomy
                Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b""");
        assertEquals("girl with an artist's beret, determined, blue eyes, desert scene, computer monitors, heavy makeup", old.prompt());
        assertEquals("ugly, fat, obese, chubby, (((deformed))), [blurry], bad anatomy", old.negativePrompt());
        assertEquals(20, old.steps());
        assertEquals("Euler a", old.sampler());
        assertEquals(7.0, old.cfgScale());
        assertEquals(965400086L, old.seed());
        assertEquals(512, old.width());
        assertEquals("45dee52b", old.modelHash());
        assertEquals(1, old.clipSkip());
        // a 1.x infotext with a LoRA (the Lora extension's "Lora hashes" entry) and a version
        Infotext lora = Infotext.parse("""
                1girl, <lora:mylora:0.8>
                Steps: 25, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 7, Size: 512x640, Model hash: e6e99610c4, \
                Model: v1-5-pruned-emaonly, Clip skip: 2, Lora hashes: "mylora: 1a2b3c4d5e6f", Version: v1.6.0""");
        assertEquals(6.5, lora.cfgScale());
        assertEquals(640, lora.height());
        assertEquals("v1-5-pruned-emaonly", lora.modelName());
        assertEquals(2, lora.clipSkip());
        assertEquals(Map.of("Lora hashes", "mylora: 1a2b3c4d5e6f"), lora.extras());
        assertEquals("v1.6.0", lora.version());
    }

    @Test
    void shortLastLineBelongsToThePrompt() {
        // fewer than 3 entries on the last line: A1111 takes it as prompt text, so required entries are missing
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Infotext.parse("cat\nSteps: 20, Seed: 1"));
        assertTrue(e.getMessage().contains("Size"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Infotext.parse("cat\nSteps: x, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 8x8"));
        assertTrue(e.getMessage().contains("Steps 'x'"), e.getMessage());
    }

    @Test
    void badRecordsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new Infotext("p", "", 20, "Euler", 7, 1, 8, 8, null, null, 1,
                extras("Steps", "3"), null));
        assertThrows(IllegalArgumentException.class, () -> new Infotext("p", "", 20, "Euler", 7, 1, 8, 8, null, null, 1,
                extras("bad:key", "3"), null));
        assertThrows(IllegalArgumentException.class, () -> new Infotext("p", "", 20, "Euler", 7, 1, 8, 8, null, null, 1,
                extras("Empty", ""), null));
        assertThrows(IllegalArgumentException.class, () -> new Infotext("p", "", 0, "Euler", 7, 1, 8, 8, null, null, 1, null, null));
        assertThrows(IllegalArgumentException.class, () -> new Infotext("p", "", 20, "Euler", Double.NaN, 1, 8, 8, null, null, 1, null, null));
    }
}
