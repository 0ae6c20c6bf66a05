package dev.sumi.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelCommandsTest {

    @TempDir
    Path dir;

    @Test
    void makeModelThenInspect() {
        Path out = dir.resolve("tiny.safetensors");
        CliTest.Run made = CliTest.run("make-model", "--arch", "tiny", "--seed", "3", "--out", out.toString());
        assertEquals(0, made.exit(), made.err());
        CliTest.Run again = CliTest.run("make-model", "--arch", "tiny", "--out", out.toString());
        assertNotEquals(0, again.exit());
        assertTrue(again.err().contains("exists (use --force to overwrite)"), again.err());

        CliTest.Run table = CliTest.run("inspect", out.toString());
        assertEquals(0, table.exit(), table.err());
        assertTrue(table.out().contains("custom (SD 1.x topology)"), table.out());
        assertTrue(table.out().contains("sshs_model_hash"), table.out());
        CliTest.Run json = CliTest.run("inspect", "--json", "--no-hash", out.toString());
        assertEquals(0, json.exit(), json.err());
        assertTrue(json.out().strip().startsWith("{\"path\":") && json.out().contains("\"family\":\"custom (SD 1.x topology)\""), json.out());
    }

    @Test
    void inspectALoraShowsItsTrainingSummary() {
        CliTest.Run r = CliTest.run("inspect", "src/test/resources/golden/kohya_lora_sd15.safetensors");
        assertEquals(0, r.exit(), r.err());
        for (String row : new String[] {"base               SD1", "unmatched modules  (none)", "training           dim = 4",
                "training           epoch = 2 of 3", "training           steps = 40", "sshs_model_hash = b1c1f2e5ac24a533"}) {
            assertTrue(r.out().contains(row), row + " in\n" + r.out());
        }
    }

    @Test
    void tokenizeUsesTheTokenizerBesideTheCheckpoint() {
        Path out = dir.resolve("tok.safetensors");
        assertEquals(0, CliTest.run("make-model", "--arch", "tiny", "--out", out.toString()).exit());
        CliTest.Run r = CliTest.run("tokenize", "--model", out.toString(), "--json", "a photo of a red circle");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().startsWith("{\"tokens\":"), r.out());
        CliTest.Run chunks = CliTest.run("tokenize", "--model", out.toString(), "--max-token-length", "150", "a photo of a red circle");
        assertEquals(0, chunks.exit(), chunks.err());
        assertTrue(chunks.out().contains("max token length 150: 2 chunks of 77 ids") && chunks.out().contains("chunk 2: ["), chunks.out());
        CliTest.Run bad = CliTest.run("tokenize", "--model", out.toString(), "--max-token-length", "100", "x");
        assertNotEquals(0, bad.exit());
        assertTrue(bad.err().contains("max token length 100 is not 75, 150 or 225"), bad.err());
        System.setProperty("sumi.hf.hub", dir.resolve("empty-hub").toString());   // a user's real cache must not answer
        CliTest.Run none;
        try {
            none = CliTest.run("tokenize", "--model", dir.resolve("nothing.safetensors").toString(), "x");
        } finally {
            System.clearProperty("sumi.hf.hub");
        }
        assertNotEquals(0, none.exit());
        assertTrue(none.err().contains("no CLIP tokenizer found (looked in"), none.err());
    }

    @Test
    void badFilesGiveOneLineAndNonZero() throws IOException {
        Path truncated = Files.write(dir.resolve("broken.safetensors"), new byte[] {1, 2, 3});
        CliTest.Run r = CliTest.run("inspect", truncated.toString());
        assertNotEquals(0, r.exit());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("sumi: " + truncated), r.err());
        CliTest.Run debug = CliTest.run("--debug", "inspect", truncated.toString());
        assertNotEquals(0, debug.exit());
        assertTrue(debug.err().contains("\tat dev.sumi."), "--debug shows the stack trace: " + debug.err());
        CliTest.Run missing = CliTest.run("inspect", dir.resolve("nope.safetensors").toString());
        assertNotEquals(0, missing.exit());
        assertTrue(missing.err().contains("no such file"), missing.err());
    }
}
