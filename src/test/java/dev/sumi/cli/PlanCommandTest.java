package dev.sumi.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PlanCommandTest {

    @TempDir
    Path dir;

    @Test
    void printsTheTableTheVerdictAndJson() {
        Path model = dir.resolve("tiny.safetensors");
        assertEquals(0, CliTest.run("make-model", "--arch", "tiny", "--out", model.toString()).exit());

        CliTest.Run fits = CliTest.run("plan", "--model", model.toString(), "--resolution", "64", "--batch", "2", "--dtype", "bf16",
                "--lora-rank", "4", "--device-memory", "8GiB");
        assertFalse(fits.out().contains("weight gradients"), "LoRA training forms no Linear weight gradients");
        System.out.println(fits.out());
        assertEquals(0, fits.exit(), fits.err());
        for (String s : new String[] {"training step:", "UNet weights", "UNet activations & scratch",
                "text encoder weights", "LoRA weights and gradients (F32, BF16 copies; 96 modules)", "~ LoRA AdamW moments", "latent caching", "VAE weights", "peak:", "fits in 8.0 GiB"}) {
            assertTrue(fits.out().contains(s), s + " in\n" + fits.out());
        }

        CliTest.Run tooSmall = CliTest.run("plan", "--model", model.toString(), "--resolution", "64", "--device-memory", "1MiB");
        assertEquals(0, tooSmall.exit(), tooSmall.err());
        assertTrue(tooSmall.out().contains("does NOT fit in 1.0 MiB"), tooSmall.out());

        CliTest.Run json = CliTest.run("plan", "--model", model.toString(), "--resolution", "64x32", "--json", "--device-memory", "1000000");
        assertEquals(0, json.exit(), json.err());
        String j = json.out().strip();
        assertTrue(j.startsWith("{\"family\":") && j.contains("\"width\":64,\"height\":32") && j.contains("\"fits\":false")
                && j.contains("\"exact\":false") && j.contains("\"available\":1000000"), j);
    }

    @Test
    void badArgumentsGiveOneLine() {
        Path model = dir.resolve("tiny.safetensors");
        assertEquals(0, CliTest.run("make-model", "--arch", "tiny", "--out", model.toString()).exit());
        CliTest.Run r = CliTest.run("plan", "--model", model.toString(), "--resolution", "63");
        assertNotEquals(0, r.exit());
        assertTrue(r.err().contains("is not a multiple of"), r.err());
        CliTest.Run m = CliTest.run("plan", "--model", model.toString(), "--device-memory", "lots");
        assertNotEquals(0, m.exit());
        assertTrue(m.err().contains("--device-memory lots"), m.err());
    }

    @Test
    void parsesSizes() {
        assertEquals(8L << 30, PlanCommand.parseBytes("8GiB"));
        assertEquals(8L << 30, PlanCommand.parseBytes("8 G"));
        assertEquals(12_000_000_000L, PlanCommand.parseBytes("12GB"));
        assertEquals(1536L << 20, PlanCommand.parseBytes("1.5GiB"));
        assertEquals(42, PlanCommand.parseBytes("42"));
    }
}
