package dev.sumi.lora;

import dev.sumi.lora.PromptLoras.Parsed;
import dev.sumi.lora.PromptLoras.Reference;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A1111's extra-network tag syntax (extra_networks.parse_prompt, extra_networks_lora.activate), case by case. */
class PromptLorasTest {

    static List<Reference> loras(String prompt) {
        return PromptLoras.parse(prompt).loras();
    }

    @Test
    void multipliersPositionalAndNamed() {
        assertEquals(List.of(new Reference("cat", 1, 1)), loras("<lora:cat>"));
        assertEquals(List.of(new Reference("cat", 0.6f, 0.6f)), loras("<lora:cat:0.6>"));
        assertEquals(List.of(new Reference("cat", 0.25f, 0.75f)), loras("<lora:cat:0.25:0.75>"));
        assertEquals(List.of(new Reference("cat", 0.5f, 0.5f)), loras("<lora:cat:te=0.5>"), "unet follows te");
        assertEquals(List.of(new Reference("cat", 1, 0.5f)), loras("<lora:cat:unet=0.5>"));
        assertEquals(List.of(new Reference("cat", 0.2f, 0.9f)), loras("<lora:cat:1:1:unet=0.9:te=0.2>"), "named beats positional");
        assertEquals(List.of(new Reference("cat", 0.7f, 0.7f)), loras("<lora:cat:0.7:dyn=16>"), "dyn is ignored");
        assertEquals(List.of(new Reference("cat", 0.7f, 0.3f)), loras("<lora:cat:0.7:0.3:8>"), "positional dyn is ignored");
        assertEquals(List.of(new Reference("cat", -1.5f, -1.5f)), loras("<lora:cat: -1.5 >"), "Python's float() strips spaces; negative weights work");
        assertEquals(List.of(new Reference("cat", 1e-1f, 10f)), loras("<lora:cat:1e-1:1_0>"));
        assertEquals(List.of(new Reference("a=b=c", 1, 1)), loras("<lora:a=b=c>"), "two '=' make a positional item");
        assertEquals(List.of(new Reference("my lora v2.1", 0.8f, 0.8f)), loras("<lora:my lora v2.1:0.8>"));
        assertEquals(List.of(new Reference("cat", 0.4f, 0.4f)), loras("<lyco:cat:0.4>"), "lyco is the same network under an alias");
    }

    @Test
    void tagsAreCutOutOfThePromptAndOtherTypesIgnored() {
        Parsed p = PromptLoras.parse("a photo of <lora:cat:0.6> a cat, <hypernet:anime:1>masterpiece <LORA:dog:1> <lora:> <:x>");
        assertEquals("a photo of  a cat, masterpiece  <lora:> <:x>", p.prompt(), "every <word:args> goes, even of other types; no args, no tag");
        assertEquals(List.of(new Reference("cat", 0.6f, 0.6f)), p.loras());
        assertEquals(List.of("<hypernet:anime:1>", "<LORA:dog:1>"), p.ignoredTags(), "the type is case-sensitive");
        Parsed none = PromptLoras.parse("plain prompt");
        assertEquals("plain prompt", none.prompt());
        assertTrue(none.loras().isEmpty());
        assertEquals("x\ny", PromptLoras.parse("x<lora:a:1\n:2>\ny").prompt(), "args may span lines");
    }

    @Test
    void aNameGivenTwiceAppliesTwiceAtTheLastMultipliers() {
        assertEquals(List.of(new Reference("cat", 0.2f, 0.3f), new Reference("dog", 1, 1), new Reference("cat", 0.2f, 0.3f)),
                loras("<lora:cat:0.9> <lora:dog> <lora:cat:0.2:0.3>"));
    }

    @Test
    void badTagsAreOneLineErrors() {
        var e = assertThrows(IllegalArgumentException.class, () -> loras("x <lora:cat:strong>"));
        assertEquals("prompt tag <lora:cat:strong>: 'strong' is not a number", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> loras("<lora:cat:>"), "float('') fails in A1111 too");
        assertThrows(IllegalArgumentException.class, () -> loras("<lora:cat:inf>"));
        e = assertThrows(IllegalArgumentException.class, () -> loras("<lora:te=1>"));
        assertTrue(e.getMessage().contains("no LoRA name"), e.getMessage());
    }
}
