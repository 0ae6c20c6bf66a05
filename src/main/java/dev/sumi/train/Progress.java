package dev.sumi.train;

import dev.sumi.util.Bytes;
import dev.sumi.util.JsonOut;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * The progress of a training run, on the console and in files:
 * <ul>
 *   <li>a terminal gets one status line (epoch, step/total, smoothed loss, it/s, ETA, device memory) redrawn in place
 *       with {@code \r}; anything else gets the same line printed every {@code plainInterval};
 *   <li>{@code json}: one JSON object per step and per event (start, epoch_end, save, sample, done, error) instead;
 *   <li>{@code train.log} (the human lines, timestamped) and {@code loss.csv} (every step) in the log folder, appended
 *       to when a run resumes.
 * </ul>
 * The loss shown is an exponential moving average (weight 0.1 per step, bias-corrected like Adam's moments).
 */
public final class Progress implements ProgressSink, AutoCloseable {

    public enum Mode { TERMINAL, PLAIN, JSON }

    static final double EMA_WEIGHT = 0.1;
    static final String CSV_HEADER = "step,epoch,loss,loss_ema,lr,it_per_s,device_memory,skipped";

    private final PrintStream out;
    private final Mode mode;
    private final LongSupplier nanoTime;
    private final long plainIntervalNanos;
    private final BufferedWriter log, csv;

    private Start start;
    private double ema;
    private int emaCount;
    private long firstStepNanos = -1, firstStepNumber, lastPlainNanos = Long.MIN_VALUE;
    private int lastLineLength;
    private boolean lineOpen;

    /**
     * @param logDir        folder for train.log and loss.csv (created); null: no files
     * @param nanoTime      the clock (System::nanoTime; tests pass their own)
     */
    public Progress(PrintStream out, Mode mode, Path logDir, LongSupplier nanoTime, long plainIntervalNanos) throws IOException {
        this.out = out;
        this.mode = mode;
        this.nanoTime = nanoTime;
        this.plainIntervalNanos = plainIntervalNanos;
        if (logDir != null) {
            Files.createDirectories(logDir);
            Path csvPath = logDir.resolve("loss.csv");
            boolean newCsv = !Files.exists(csvPath) || Files.size(csvPath) == 0;
            log = Files.newBufferedWriter(logDir.resolve("train.log"), StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            csv = Files.newBufferedWriter(csvPath, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
            if (newCsv) csv.write(CSV_HEADER + "\n");
        } else {
            log = null;
            csv = null;
        }
    }

    /** The console mode: JSON when asked, a redrawn line when stdout is a terminal, else plain lines. */
    public static Mode consoleMode(boolean json) {
        if (json) return Mode.JSON;
        var console = System.console();
        return console != null && console.isTerminal() ? Mode.TERMINAL : Mode.PLAIN;
    }

    @Override
    public void start(Start s) {
        this.start = s;
        String line = String.format(Locale.ROOT, "training: %d epochs, %d steps%s, %d images per epoch, on %s", s.epochs(), s.totalSteps(),
                s.firstStep() > 0 ? " (resuming after step " + s.firstStep() + ")" : "", s.imagesPerEpoch(), s.device());
        event("start", Map.of("epochs", s.epochs(), "total_steps", s.totalSteps(), "first_step", s.firstStep(),
                "images_per_epoch", s.imagesPerEpoch(), "device", s.device()), line);
    }

    @Override
    public void step(Step s) {
        if (start == null) throw new IllegalStateException("step before start");
        long now = nanoTime.getAsLong();
        if (!Double.isNaN(s.loss()) && !s.skipped()) {
            emaCount++;
            ema = (1 - EMA_WEIGHT) * ema + EMA_WEIGHT * s.loss();
        }
        double smoothed = emaCount == 0 ? Double.NaN : ema / (1 - Math.pow(1 - EMA_WEIGHT, emaCount));
        if (firstStepNanos < 0) {   // the rate counts from the first step's end: it excludes warm-up work before it
            firstStepNanos = now;
            firstStepNumber = s.step();
        }
        double seconds = (now - firstStepNanos) / 1e9;
        double rate = s.step() > firstStepNumber && seconds > 0 ? (s.step() - firstStepNumber) / seconds : Double.NaN;
        double eta = rate > 0 ? (start.totalSteps() - s.step()) / rate : Double.NaN;
        csv(String.format(Locale.ROOT, "%d,%d,%s,%s,%s,%s,%d,%d", s.step(), s.epoch(), num(s.loss()), num(smoothed), num(s.lr()), num(rate),
                s.deviceMemory(), s.skipped() ? 1 : 0));
        String line = String.format(Locale.ROOT, "epoch %d/%d  step %d/%d  loss %s  %s it/s  ETA %s%s%s", s.epoch(), start.epochs(), s.step(),
                start.totalSteps(), Double.isNaN(smoothed) ? "-" : String.format(Locale.ROOT, "%.4f", smoothed),
                Double.isNaN(rate) ? "-" : String.format(Locale.ROOT, "%.2f", rate), duration(eta),
                s.deviceMemory() >= 0 ? "  mem " + Bytes.human(s.deviceMemory()) : "", s.skipped() ? "  (step skipped: non-finite)" : "");
        switch (mode) {
            case JSON -> {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("event", "step");
                m.put("epoch", s.epoch());
                m.put("step", s.step());
                m.put("total_steps", start.totalSteps());
                m.put("loss", s.loss());
                m.put("loss_ema", smoothed);
                m.put("lr", s.lr());
                m.put("it_per_s", rate);
                m.put("eta_s", eta);
                m.put("device_memory", s.deviceMemory() >= 0 ? s.deviceMemory() : null);
                m.put("skipped", s.skipped());
                out.println(JsonOut.write(m));
            }
            case TERMINAL -> {
                out.print("\r" + line + " ".repeat(Math.max(0, lastLineLength - line.length())));
                out.flush();
                lastLineLength = line.length();
                lineOpen = true;
            }
            case PLAIN -> {
                if (lastPlainNanos == Long.MIN_VALUE || now - lastPlainNanos >= plainIntervalNanos || s.step() == start.totalSteps()) {
                    out.println(line);
                    log(line);
                    lastPlainNanos = now;
                }
            }
        }
        // the log gets the printed lines; a redrawn or JSON console leaves one line per 50 steps there
        if (mode != Mode.PLAIN && (s.step() % 50 == 0 || s.step() == start.totalSteps())) log(line);
    }

    @Override
    public void epochEnd(int epoch, double meanLoss) {
        event("epoch_end", Map.of("epoch", epoch, "mean_loss", meanLoss), String.format(Locale.ROOT, "epoch %d done, mean loss %s", epoch, num(meanLoss)));
    }

    @Override
    public void saved(String kind, Path path) {
        event("save", Map.of("kind", kind, "path", path.toString()), "saved " + kind + " " + path);
    }

    @Override
    public void sample(Path image) {
        event("sample", Map.of("path", image.toString()), "sample " + image);
    }

    @Override
    public void done(long steps, Path lastFile) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("steps", steps);
        m.put("path", lastFile == null ? null : lastFile.toString());
        event("done", m, "done: " + steps + " steps" + (lastFile == null ? "" : ", " + lastFile));
    }

    @Override
    public void error(String message) {
        event("error", Map.of("message", message), "error: " + message);
    }

    @Override
    public void message(String text) {
        event("message", Map.of("text", text), text);
    }

    private void event(String name, Map<String, Object> fields, String line) {
        if (mode == Mode.JSON) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("event", name);
            m.putAll(fields);
            out.println(JsonOut.write(m));
        } else {
            if (lineOpen) out.println();   // keep the last status line, print the event under it
            lineOpen = false;
            lastLineLength = 0;
            out.println(line);
        }
        log(line);
    }

    private void log(String line) {
        if (log == null) return;
        try {
            log.write(LocalDateTime.now().format(DateTimeFormatter.ISO_LOCAL_DATE_TIME).substring(0, 19) + " " + line + "\n");
            log.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("train.log: " + e.getMessage(), e);
        }
    }

    private void csv(String row) {
        if (csv == null) return;
        try {
            csv.write(row + "\n");
            csv.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("loss.csv: " + e.getMessage(), e);
        }
    }

    private static String num(double d) {
        return Double.isNaN(d) ? "" : Double.isInfinite(d) ? (d > 0 ? "inf" : "-inf") : Double.toString(d);
    }

    static String duration(double seconds) {
        if (Double.isNaN(seconds) || Double.isInfinite(seconds)) return "-";
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }

    @Override
    public void close() throws IOException {
        if (lineOpen) out.println();
        lineOpen = false;
        if (log != null) log.close();
        if (csv != null) csv.close();
    }
}
