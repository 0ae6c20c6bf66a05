package dev.sumi.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

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
