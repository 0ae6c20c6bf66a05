package dev.sumi.train;

import dev.sumi.demo.DemoDataset;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.SafeTensorsWriter;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.tensor.safetensors.TensorEntry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.stream.Stream;

/**
 * What the end-to-end training tests share: sumi's tiny model, a small demo dataset, a config of kohya keys at the
 * smallest useful size (64 px, batch 2, rank 4: 2 steps an epoch of 4 images on the host), and a sink that records the run.
 */
final class TrainRuns {
    private TrainRuns() {}

    static Path tinyModel(Path dir) throws IOException {
        Path model = dir.resolve("tiny.safetensors");
        RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 1), 1, StoredType.F32, model, false);
        return model;
    }

    /** {@code count} demo images (each colour's caption names it: red, blue, green, yellow) in {@code dir/1_sumi}. */
    static Path dataset(Path dir, int count) {
        DemoDataset.write(dir, count, 1, 1);
        return dir;
    }

    /**
     * A copy of {@code model} (with its tokenizer) in which {@code edit} may replace a tensor's values (return them
     * changed) or drop it (return null).
     */
    static Path editedModel(Path model, Path out, BiFunction<String, float[], float[]> edit) throws IOException {
        try (SafeTensorsFile f = SafeTensorsFile.open(model)) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            f.metadata().forEach(w::metadata);
            for (TensorEntry e : f.tensors()) {
                if (e.type() != StoredType.F32) {
                    w.addSegment(e.name(), e.type(), e.shape(), f.data(e));
                    continue;
                }
                float[] values = edit.apply(e.name(), f.readFloats(e));
                if (values != null) w.addFloats(e.name(), StoredType.F32, e.shape(), values);
            }
            w.write(out, false);
        }
        Path from = RandomCheckpoint.tokenizerDir(model), to = Files.createDirectories(RandomCheckpoint.tokenizerDir(out));
        try (Stream<Path> files = Files.list(from)) {
            for (Path p : files.toList()) Files.copy(p, to.resolve(p.getFileName()));
        }
        return out;
    }

    /** The config of kohya keys and values (as the command line gives them), on top of the tests' small run. */
    static TrainConfig config(Path model, Path data, Path out, String... keyValues) {
        Map<TrainOption, TrainConfigReader.Setting> s = new EnumMap<>(TrainOption.class);
        String[] base = {"pretrained_model_name_or_path", model.toString(), "train_data_dir", data.toString(), "output_dir", out.toString(),
                "output_name", "demo", "resolution", "64", "max_train_epochs", "2", "save_every_n_epochs", "1", "mixed_precision", "no",
                "network_dim", "4", "network_alpha", "2", "seed", "1", "learning_rate", "1e-3", "optimizer_type", "AdamW",
                "max_token_length", "75", "train_batch_size", "2", "device", "host"};
        put(s, base);
        put(s, keyValues);
        return TrainConfigReader.resolve(s);
    }

    private static void put(Map<TrainOption, TrainConfigReader.Setting> s, String[] keyValues) {
        for (int i = 0; i < keyValues.length; i += 2) {
            TrainOption o = TrainOption.find(keyValues[i]);
            if (o == null) throw new IllegalArgumentException("no option " + keyValues[i]);
            s.put(o, new TrainConfigReader.Setting(keyValues[i + 1], "--" + keyValues[i]));
        }
    }

    /** Runs the loop; {@code interruptAfterStep} > 0 requests an interrupt once that step is reported. */
    static Recorder train(LoraTrainer trainer, TrainConfig config, long interruptAfterStep) throws Exception {
        Interrupt interrupt = new Interrupt(Duration.ofSeconds(10));
        Recorder r = new Recorder(interrupt, interruptAfterStep);
        trainer.train(config, r, interrupt);
        return r;
    }

    static Recorder train(TrainConfig config) throws Exception {
        return train(new LoraTrainer(), config, 0);
    }

    /** Every report of one run, in order. */
    static final class Recorder implements ProgressSink {
        final List<ProgressSink.Step> steps = new ArrayList<>();
        final List<Path> saved = new ArrayList<>();
        final List<String> messages = new ArrayList<>();
        private final Interrupt interrupt;
        private final long interruptAfterStep;
        Path lastFile;
        boolean done;

        Recorder(Interrupt interrupt, long interruptAfterStep) {
            this.interrupt = interrupt;
            this.interruptAfterStep = interruptAfterStep;
        }

        @Override
        public void start(Start start) {}

        @Override
        public void step(Step step) {
            steps.add(step);
            if (step.step() == interruptAfterStep) interrupt.request();
        }

        @Override
        public void epochEnd(int epoch, double meanLoss) {}

        @Override
        public void saved(String kind, Path path) {
            saved.add(path);
        }

        @Override
        public void sample(Path image) {}

        @Override
        public void done(long steps, Path lastFile) {
            this.done = true;
            this.lastFile = lastFile;
        }

        @Override
        public void error(String message) {}

        @Override
        public void message(String text) {
            messages.add(text);
        }
    }
}
