package dev.sumi.train;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TomlTest {

    @Test
    void readsTheSubsetKohyaConfigsUse() {
        List<Toml.Entry> e = Toml.parse("c.toml", """
                # a kohya_ss-style config
                pretrained_model_name_or_path = "C:\\\\models\\\\sd15.safetensors"  # escaped backslashes
                output_dir = 'D:\\out'
                [training_arguments]
                train_batch_size = 2
                learning_rate = 1e-4
                noise_offset = 0.05
                max_train_steps = 1_600
                flip_aug = true
                optimizer_args = [ "weight_decay=0.1",
                                   "betas=0.9,0.99", ]   # trailing comma, two lines
                "quoted-key" = -3
                """);
        assertEquals(9, e.size());
        assertEquals("C:\\models\\sd15.safetensors", e.get(0).value());
        assertEquals("D:\\out", e.get(1).value());
        assertEquals("", e.get(0).table());
        assertEquals("training_arguments", e.get(2).table());
        assertEquals(2L, e.get(2).value());
        assertEquals(5, e.get(2).line());
        assertEquals(1e-4, e.get(3).value());
        assertEquals(1600L, e.get(5).value());
        assertEquals(Boolean.TRUE, e.get(6).value());
        assertEquals(List.of("weight_decay=0.1", "betas=0.9,0.99"), e.get(7).value());
        assertEquals(-3L, e.get(8).value());
        assertEquals("quoted-key", e.get(8).key());
    }

    @Test
    void everythingElseIsAnErrorWithTheLine() {
        assertError("c.toml:2: expected '=', found 'b'", "a = 1\nkey bad\n");
        assertError("c.toml:2: a: set twice", "a = 1\na = 2\n");
        assertError("c.toml:1: nested table [a.…]: only one level of tables is supported", "[a.b]\n");
        assertError("c.toml:1: arrays of tables ([[...]]) are not supported (dataset configs are not training configs)", "[[datasets]]\n");
        assertError("c.toml:1: not a string, number, boolean or array: fp16 (strings need quotes)", "mixed_precision = fp16\n");
        assertError("c.toml:1: unterminated string", "a = \"abc\n");
        assertError("c.toml:1: unknown escape \\m in a \"string\" (for Windows paths use 'single quotes' or /)", "a = \"C:\\models\"\n");
        assertError("c.toml:1: unexpected '2' after the value", "a = 1 2\n");
        assertError("c.toml:1: dotted key a.…: write the key in a [table] or flat", "a.b = 1\n");
        assertError("c.toml:3: expected a value, found the end of the file", "a = [\n1,\n");
        assertError("c.toml:1: multi-line strings are not supported", "a = \"\"\"x\"\"\"\n");
    }

    private static void assertError(String message, String text) {
        assertEquals(message, assertThrows(IllegalArgumentException.class, () -> Toml.parse("c.toml", text)).getMessage());
    }
}
