package dev.sumi.cli;

import dev.sumi.demo.DemoDataset;
import dev.sumi.device.Device;
import dev.sumi.device.SelfTest;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.sample.TrainingPreviews;
import dev.sumi.util.AtomicFiles;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.train.Interrupt;
import dev.sumi.train.LoraTrainer;
import dev.sumi.train.Progress;
import dev.sumi.train.ProgressSink;
import dev.sumi.train.TrainConfig;
import dev.sumi.train.TrainConfigReader;
import dev.sumi.train.TrainConfigReader.Setting;
import dev.sumi.train.TrainOption;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The README's first command: with no downloads, makes the embedded tiny model and a drawn, captioned dataset,
 * trains a LoRA on it with the real loop (the device self-test first), saves every epoch as kohya files that pass
 * AUTOMATIC1111's key rules, and prints where everything is and how the loss went. Minutes on two CPU cores.
 */
@Command(name = "demo", description = "Train a small LoRA on the embedded tiny model and a drawn dataset (no downloads), on the host or a GPU.")
public final class DemoCommand implements java.util.concurrent.Callable<Integer> {

    @Mixin
    DeviceOption device;

    @Option(names = "--out", defaultValue = "sumi-demo", description = "Folder for the demo's files (default ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--epochs", defaultValue = "4", description = "Epochs to train (default ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--json", description = "One JSON object per step and event instead of the progress bar.")
    boolean json;

    /** Demo dataset size: 8 images x 2 repeats / batch 4 = 4 steps per epoch. */
    static final int IMAGES = 8, REPEATS = 2, BATCH = 4, RESOLUTION = 64;

    @Override
    public Integer call() throws Exception {
        try (Device d = device.open()) {
            System.out.println("sumi demo on " + d.name());
            List<SelfTest.Check> checks = SelfTest.run(d);
            System.out.println("  device self-test: " + checks.stream().filter(SelfTest.Check::passed).count() + "/" + checks.size() + " passed");
            for (SelfTest.Check c : checks) if (!c.passed()) System.out.println("    FAILED " + c.name() + ": " + c.detail());
            if (!checks.stream().allMatch(SelfTest.Check::passed)) return 1;
        }
        Files.createDirectories(out);
        Path model = out.resolve("tiny.safetensors");
        if (!Files.exists(model)) RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 0), 0, StoredType.F32, model, false);
        Path data = out.resolve("dataset");
        DemoDataset.write(data, IMAGES, REPEATS, 7);
        Path prompts = out.resolve("preview-prompts.txt");
        if (!Files.exists(prompts)) AtomicFiles.writeString(prompts, PREVIEW_PROMPTS, false);
        Path runDir = out.resolve("lora");
        String name = nextRunName(runDir);
        System.out.println("  model:   " + model + " (random weights; its tokenizer in " + RandomCheckpoint.tokenizerDir(model) + ")");
        System.out.println("  dataset: " + data + " (" + IMAGES + " drawn images with captions, " + REPEATS + " repeats)");
        System.out.println();

        TrainConfig config = TrainConfigReader.resolve(settings(model, data, runDir, name, prompts));
        EpochLosses losses = new EpochLosses();
        try (Interrupt interrupt = new Interrupt(Duration.ofSeconds(60)).install();
             Progress progress = new Progress(System.out, Progress.consoleMode(json), runDir, System::nanoTime, 5_000_000_000L)) {
            new LoraTrainer(TrainingPreviews.of(config)).train(config, new Tee(progress, losses), interrupt);
        }
        System.out.println();
        System.out.println("LoRA files (kohya format, checked by AUTOMATIC1111's key rules):");
        for (Path f : losses.saved) System.out.println("  " + f);
        System.out.println("logs: " + runDir.resolve("train.log") + ", " + runDir.resolve("loss.csv"));
        if (!losses.samples.isEmpty()) {
            System.out.println("preview grid (every saved file x LoRA weights " + PREVIEW_WEIGHTS + "): " + losses.samples.getLast());
        }
        System.out.print("mean loss per epoch:");
        for (double l : losses.means) System.out.printf(Locale.ROOT, " %.4f", l);
        System.out.println();
        if (losses.means.size() >= 2) {
            double first = losses.means.getFirst(), last = losses.means.getLast();
            System.out.printf(Locale.ROOT, "the loss %s from %.4f to %.4f (%+.1f%%)%n", last < first ? "fell" : "did not fall", first, last, 100 * (last - first) / first);
        }
        System.out.println("Next: ./sumi generate --model " + model + " --lora-dir " + runDir + " --prompt \"a red circle <lora:" + name + ":1>\" --width 32 --height 32");
        System.out.println("      ./sumi train --help (kohya's flags), ./sumi inspect " + losses.saved.getLast() + ", ./sumi plan --model sd15 --resolution 512");
        return 0;
    }

    /**
     * demo, demo-2, demo-3, ...: a rerun of the demo never replaces an earlier run's files, nor meets those of an
     * interrupted one (its first epoch's file or its state), which the trainer refuses to replace.
     */
    private static String nextRunName(Path dir) {
        for (int i = 1; ; i++) {
            String n = i == 1 ? "demo" : "demo-" + i;
            if (Stream.of(n + ".safetensors", n + "-000001.safetensors", n + "-state").noneMatch(f -> Files.exists(dir.resolve(f)))) return n;
        }
    }

    /**
     * The demo's preview: one of the dataset's captions, small and few steps so the grid takes seconds on the host;
     * kohya's prompt-file format (sumi train --sample-prompts reads the same file).
     */
    static final String PREVIEW_PROMPTS = "# sumi demo's preview prompt (kohya's format: --n negative, --w/--h size, --s steps, --l CFG scale, --d seed)\n"
            + "a red circle on a pale background, ink border --n blurry --w 32 --h 32 --s 8 --l 5 --d 7\n";
    static final String PREVIEW_WEIGHTS = "0.6 0.7 0.8 0.9 1";

    private Map<TrainOption, Setting> settings(Path model, Path data, Path runDir, String name, Path prompts) {
        Map<TrainOption, Setting> s = new EnumMap<>(TrainOption.class);
        put(s, TrainOption.PRETRAINED_MODEL_NAME_OR_PATH, model.toString());
        put(s, TrainOption.TRAIN_DATA_DIR, data.toString());
        put(s, TrainOption.OUTPUT_DIR, runDir.toString());
        put(s, TrainOption.OUTPUT_NAME, name);
        put(s, TrainOption.RESOLUTION, Integer.toString(RESOLUTION));
        put(s, TrainOption.TRAIN_BATCH_SIZE, Integer.toString(BATCH));
        put(s, TrainOption.MAX_TRAIN_EPOCHS, Integer.toString(epochs));
        put(s, TrainOption.SAVE_EVERY_N_EPOCHS, "1");
        put(s, TrainOption.OPTIMIZER_TYPE, "AdamW");
        put(s, TrainOption.LEARNING_RATE, "3e-3");
        put(s, TrainOption.LR_SCHEDULER, "constant");
        put(s, TrainOption.NETWORK_DIM, "8");
        put(s, TrainOption.NETWORK_ALPHA, "8");
        put(s, TrainOption.MAX_TOKEN_LENGTH, "75");
        put(s, TrainOption.CLIP_SKIP, "1");
        put(s, TrainOption.MIXED_PRECISION, "no");
        put(s, TrainOption.SEED, "42");
        put(s, TrainOption.JSON, Boolean.toString(json));
        put(s, TrainOption.SAMPLE_PROMPTS, prompts.toString());
        put(s, TrainOption.SAMPLE_EVERY_N_EPOCHS, "1");
        put(s, TrainOption.PREVIEW_WEIGHTS, PREVIEW_WEIGHTS);
        if (device.device != null) put(s, TrainOption.DEVICE, device.device);
        return s;
    }

    private static void put(Map<TrainOption, Setting> s, TrainOption o, String value) {
        s.put(o, new Setting(value, "sumi demo"));
    }

    /** Collects the epoch means and saved files for the summary. */
    private static final class EpochLosses {
        final List<Double> means = new ArrayList<>();
        final List<Path> saved = new ArrayList<>();
        final List<Path> samples = new ArrayList<>();
    }

    /** The progress display, plus the summary's records. */
    private record Tee(ProgressSink progress, EpochLosses losses) implements ProgressSink {
        public void start(Start s) { progress.start(s); }
        public void step(Step s) { progress.step(s); }
        public void epochEnd(int epoch, double meanLoss) {
            losses.means.add(meanLoss);
            progress.epochEnd(epoch, meanLoss);
        }
        public void saved(String kind, Path path) {
            if (kind.equals("lora")) losses.saved.add(path);
            progress.saved(kind, path);
        }
        public void sample(Path image) {
            losses.samples.add(image);
            progress.sample(image);
        }
        public void done(long steps, Path lastFile) { progress.done(steps, lastFile); }
        public void error(String message) { progress.error(message); }
        public void message(String text) { progress.message(text); }
    }
}
