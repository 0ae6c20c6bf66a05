package dev.sumi.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CliTest {

    record Run(int exit, String out, String err) {}

    static Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int exit = Main.execute(args);
            return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void doctorReportsTheHostTruthfullyWithoutAGpu() {
        Run r = run("doctor", "--gemm-size", "128");
        System.out.println(r.out());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("self-test  5/5 passed on host"), r.out());
        assertTrue(r.out().contains("GFLOP/s"), r.out());
        assertTrue(r.out().contains("verdict: ready"), r.out());
    }

    @Test
    void demoTrainsALoraWhoseLossFallsAndWritesCheckedFiles(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        Run r = run("demo", "--device", "host", "--out", dir.toString(), "--epochs", "3");
        assertEquals(0, r.exit(), r.err());
        assertTrue(java.nio.file.Files.exists(dir.resolve("tiny.safetensors")));
        assertTrue(java.nio.file.Files.exists(dir.resolve("tiny.tokenizer/vocab.json")));
        for (String f : new String[] {"lora/demo-000001.safetensors", "lora/demo-000002.safetensors", "lora/demo.safetensors", "lora/train.log", "lora/loss.csv"}) {
            assertTrue(java.nio.file.Files.exists(dir.resolve(f)), f + " in " + r.out());
        }
        assertTrue(r.out().contains("the loss fell from"), r.out());
        assertTrue(r.out().contains("preview grid (every saved file x LoRA weights 0.6 0.7 0.8 0.9 1): " + dir.resolve("lora/demo_grid.png")), r.out());
        assertTrue(java.nio.file.Files.exists(dir.resolve("lora/demo_grid.png")));
        assertTrue(java.nio.file.Files.exists(dir.resolve("lora/sample/demo_e000003_00_7.png")), "a preview every epoch");
        generateWithTheDemosLora(dir);
    }

    /** The check: the demo's LoRA changes the image; at weight 0 the image is the base model's, byte for byte. */
    private static void generateWithTheDemosLora(java.nio.file.Path dir) {
        System.setProperty("sumi.cacheDir", dir.resolve("cache").toString());
        String model = dir.resolve("tiny.safetensors").toString(), caption = "a red circle on a pale background, ink border";
        java.util.function.Function<String, java.nio.file.Path> generate = prompt -> {
            Run g = run("generate", "--device", "host", "--model", model, "--lora-dir", dir.resolve("lora").toString(), "--prompt", prompt,
                    "--negative", "blurry", "--width", "32", "--height", "32", "--steps", "4", "--cfg-scale", "5", "--seed", "7", "--out", dir.resolve("gen").toString());
            assertEquals(0, g.exit(), g.err());
            return java.nio.file.Path.of(g.out().strip());
        };
        java.nio.file.Path base = generate.apply(caption), zero = generate.apply(caption + " <lora:demo:0>"), one = generate.apply(caption + " <lora:demo:1>");
        assertEquals(dir.resolve("gen/00000-7.png"), base);
        assertEquals(dir.resolve("gen/00002-7.png"), one, "numbered on, never overwritten");
        byte[] b = pixels(base), z = pixels(zero), o = pixels(one);
        assertTrue(java.util.Arrays.equals(b, z), "weight 0 must draw the base model's image");
        double diff = 0;
        for (int i = 0; i < b.length; i++) diff += Math.abs((b[i] & 0xff) - (o[i] & 0xff)) / (double) b.length;
        System.out.println("demo LoRA at weight 1: mean pixel difference " + diff + " levels");
        assertTrue(diff > 0.5, "the demo's LoRA should change the image: mean difference " + diff);
        try {
            String parameters = dev.sumi.image.PngFile.readText(java.nio.file.Files.readAllBytes(one)).get("parameters");
            dev.sumi.image.Infotext info = dev.sumi.image.Infotext.parse(parameters);
            assertEquals(caption + " <lora:demo:1>", info.prompt());
            assertEquals(7, info.seed());
            assertTrue(info.extras().getOrDefault("Lora hashes", "").startsWith("demo: "), parameters);
            assertTrue(info.modelHash() != null && info.modelHash().length() == 10, parameters);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        Run twice = run("generate", "--device", "host", "--model", model, "--prompt", caption, "--negative", "blurry", "--width", "32", "--height", "32",
                "--steps", "4", "--cfg-scale", "5", "--seed", "6", "--n-iter", "2", "--out", dir.resolve("gen").toString());
        assertEquals(0, twice.exit(), twice.err());
        assertEquals(List.of(dir.resolve("gen/00003-6.png").toString(), dir.resolve("gen/00004-7.png").toString()), twice.out().strip().lines().toList());
        assertTrue(java.util.Arrays.equals(b, pixels(dir.resolve("gen/00004-7.png"))), "seed 7 of a second batch is seed 7's image");
        Run inspect = run("inspect", one.toString());
        assertEquals(0, inspect.exit(), inspect.err());
        assertTrue(inspect.out().contains("parameters         Lora hashes = demo: "), inspect.out());
        assertTrue(inspect.out().contains("parameters         seed = 7"), inspect.out());
        Run p = run("preview", dir.resolve("lora").toString(), "--device", "host", "--model", model, "--prompt", caption,
                "--weights", "1", "--width", "32", "--height", "32", "--steps", "2", "--seed", "1");
        assertEquals(0, p.exit(), p.err());
        assertEquals(dir.resolve("lora/demo_grid-1.png").toString(), p.out().strip(), "the demo's grid is not replaced");
    }

    private static byte[] pixels(java.nio.file.Path png) {
        try {
            java.awt.image.BufferedImage img = javax.imageio.ImageIO.read(png.toFile());
            byte[] rgb = new byte[img.getWidth() * img.getHeight() * 3];
            for (int y = 0, i = 0; y < img.getHeight(); y++) {
                for (int x = 0; x < img.getWidth(); x++) {
                    int v = img.getRGB(x, y);
                    rgb[i++] = (byte) (v >> 16);
                    rgb[i++] = (byte) (v >> 8);
                    rgb[i++] = (byte) v;
                }
            }
            return rgb;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void errorsAreOneLineAndNonZero() {
        Run r = run("demo", "--device", "tpu");
        assertNotEquals(0, r.exit());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("sumi: --device tpu"), r.err());
    }

    @Test
    void benchGemmPrintsAThroughput() {
        Run r = run("bench", "gemm", "--device", "host", "--sizes", "64", "--types", "F32", "--reps", "1");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("GFLOP/s"), r.out());
    }

    @Test
    void benchOpsQuickTimesEveryOpOnTheHost() {
        Run r = run("bench", "ops", "--device", "host", "--quick");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("achieved GEMM"), r.out());
        for (String op : dev.sumi.bench.OpsBench.opNames()) {
            assertTrue(r.out().lines().anyMatch(l -> l.strip().startsWith(op + " ")), op + " missing:\n" + r.out());
        }
        assertTrue(r.out().contains("TFLOP/s") && r.out().contains("GB/s"), r.out());
    }

    @Test
    void benchOpsJsonHasOneResultPerSelectedOp() {
        Run r = run("bench", "ops", "--device", "host", "--quick", "--ops", "linear,upsample", "--batch", "1,2", "--json");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().startsWith("{\"tool\":\"sumi\""), r.out());
        assertEquals(4, r.out().split("\"op\":").length - 1, r.out());
        assertTrue(r.out().contains("\"batch\":2"), r.out());
    }
}
