package dev.sumi.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProgressTest {

    @TempDir
    Path dir;

    /** Runs 4 steps of 1 s each (a fake clock) with losses 1, 2, NaN (not read back), 3. */
    private String run(Progress.Mode mode, long plainInterval) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        long[] now = {0};
        try (Progress p = new Progress(new PrintStream(buf, true, StandardCharsets.UTF_8), mode, dir, () -> now[0], plainInterval)) {
            p.start(new ProgressSink.Start(2, 4, 0, 2, "host"));
            double[] losses = {1, 2, Double.NaN, 3};
            for (int i = 0; i < 4; i++) {
                now[0] += 1_000_000_000L;
                p.step(new ProgressSink.Step(1 + i / 2, i + 1, losses[i], 1e-4, 3L << 20, false));
                if (i % 2 == 1) p.epochEnd(1 + i / 2, 2.0);
            }
            p.saved("lora", dir.resolve("x.safetensors"));
            p.done(4, dir.resolve("x.safetensors"));
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    @Test
    void terminalRedrawsOneLineWithSmoothedLossRateAndEta() throws Exception {
        String out = run(Progress.Mode.TERMINAL, 0);
        assertTrue(out.contains("\repoch 1/2  step 2/4  loss "), out);
        // EMA with bias correction: after 1 and 2, (0.9*0.1*1 + 0.1*2) / (1 - 0.81) = 1.5263
        assertTrue(out.contains("step 2/4  loss 1.5263  1.00 it/s  ETA 0:02  mem 3.0 MiB"), out);
        assertTrue(out.contains("epoch 1 done, mean loss 2.0"), out);
        assertTrue(out.contains("done: 4 steps"), out);
        List<String> csv = Files.readAllLines(dir.resolve("loss.csv"));
        assertEquals(Progress.CSV_HEADER, csv.get(0));
        assertEquals(5, csv.size());
        assertTrue(csv.get(3).matches("3,2,,1\\.52631578947368\\d*,1\\.0E-4,1\\.0,3145728,0"), csv.get(3));   // NaN loss: empty cell, EMA unchanged
        String log = Files.readString(dir.resolve("train.log"));
        assertTrue(log.contains("training: 2 epochs, 4 steps") && log.contains("saved lora"), log);
    }

    @Test
    void plainLinesArePeriodicAndJsonHasOneObjectPerStepAndEvent() throws Exception {
        String plain = run(Progress.Mode.PLAIN, 2_500_000_000L);
        assertEquals(List.of(1, 4), plain.lines().filter(l -> l.startsWith("epoch ") && l.contains("step"))
                .map(l -> Integer.parseInt(l.split("step ")[1].split("/")[0])).toList(), plain);   // step 1, then 2.5 s later (also the last)
        assertTrue(!plain.contains("\r"), plain);
        Files.delete(dir.resolve("loss.csv"));
        String json = run(Progress.Mode.JSON, 0);
        List<String> lines = json.lines().toList();
        assertEquals(4 + 2 + 1 + 1 + 1, lines.size(), json);
        assertTrue(lines.get(0).startsWith("{\"event\":\"start\""), lines.get(0));
        assertTrue(lines.get(2).startsWith("{\"event\":\"step\",\"epoch\":1,\"step\":2,\"total_steps\":4,\"loss\":2.0,\"loss_ema\":1.526"), lines.get(2));
        assertTrue(lines.get(4).contains("\"loss\":null"), lines.get(4));
        assertTrue(lines.getLast().startsWith("{\"event\":\"done\",\"steps\":4"), lines.getLast());
        assertEquals("1:01:01", Progress.duration(3661));
    }
}
