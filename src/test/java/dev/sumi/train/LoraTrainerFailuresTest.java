package dev.sumi.train;

import dev.sumi.cli.Main;
import dev.sumi.lora.KohyaLoraFile;
import dev.sumi.lora.LoraTensors;
import dev.sumi.model.clip.ClipTokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The training loop meeting bad numbers and bad input (issue #7): a non-finite step is skipped and never saved, too
 * many in a row stop the run with a clear error, and a broken dataset, model or output folder is refused in one line.
 */
class LoraTrainerFailuresTest {

    @TempDir
    static Path dir;
    static Path model, data;

    @BeforeAll
    static void modelAndDataset() throws Exception {
        model = TrainRuns.tinyModel(dir);
        data = TrainRuns.dataset(dir.resolve("data"), 2);   // a red circle and a blue square; batch 1: 2 steps an epoch
    }

    @Test
    void anOverflowingLossSkipsEveryStepAndStopsTheRunWithoutSavingAnything() throws Exception {
        // the UNet's output is ~3e19: the loss overflows to infinity while the gradients stay finite, so the loop must
        // look at the loss itself, not only at the gradients (it applied such steps before)
        Path nan = TrainRuns.editedModel(model, dir.resolve("huge-unet.safetensors"),
                (name, v) -> {
                    if (name.equals("model.diffusion_model.out.2.bias")) Arrays.fill(v, 3e19f);
                    return v;
                });
        Path out = dir.resolve("huge-unet");
        TrainConfig config = TrainRuns.config(nan, data, out, "max_train_epochs", "1", "train_batch_size", "1");
        Interrupt interrupt = new Interrupt(Duration.ofSeconds(10));
        TrainRuns.Recorder r = new TrainRuns.Recorder(interrupt, 0);
        TrainingException e = assertThrows(TrainingException.class, () -> new LoraTrainer(2, TrainingHooks.NONE).train(config, r, interrupt));
        assertEquals(1, r.steps.size(), "the first skip is reported as a step, the second ends the run with the error");
        assertTrue(r.steps.stream().allMatch(s -> s.skipped() && Double.isNaN(s.loss())), r.steps.toString());
        assertTrue(e.getMessage().startsWith("stopped: 2 steps in a row had a non-finite loss or gradient"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
        assertEquals(List.of(), safetensorsUnder(out), "nothing is saved from a run whose every step was skipped");
    }

    @Test
    void aBatchWithANanIsSkippedAndTrainingGoesOnWithoutIt() throws Exception {
        // only one caption says "red": a NaN in that token's embedding poisons the step of that image only
        ClipTokenizer tokenizer = ClipTokenizer.locate(model, null);
        int red = tokenizer.encode("red")[0], vocab = tokenizer.vocabSize();
        Path nan = TrainRuns.editedModel(model, dir.resolve("nan-red.safetensors"),
                (name, v) -> {
                    if (name.endsWith("token_embedding.weight")) v[red * (v.length / vocab)] = Float.NaN;
                    return v;
                });
        Path out = dir.resolve("nan-red");
        TrainRuns.Recorder r = TrainRuns.train(new LoraTrainer(2, TrainingHooks.NONE), TrainRuns.config(nan, data, out, "max_train_epochs", "1", "train_batch_size", "1"), 0);
        assertTrue(r.done);
        assertEquals(2, r.steps.size());
        assertEquals(1, r.steps.stream().filter(ProgressSink.Step::skipped).count(), r.steps.toString());
        for (ProgressSink.Step s : r.steps) assertEquals(s.skipped(), Double.isNaN(s.loss()), s.toString());
        List<LoraTensors> saved = KohyaLoraFile.read(out.resolve("demo.safetensors")).modules();
        assertFalse(saved.isEmpty());
        for (LoraTensors m : saved) {
            for (float x : m.down()) assertTrue(Float.isFinite(x), m.kohyaName());
            for (float x : m.up()) assertTrue(Float.isFinite(x), m.kohyaName());
        }
        assertTrue(saved.stream().anyMatch(m -> anyNonZero(m.up())), "the good step trained the LoRA (its up weights start at zero)");
    }

    @Test
    void aCorruptImageFailsTheDatasetCheckNamingTheFile() throws Exception {
        Path bad = dir.resolve("bad-data");
        TrainRuns.dataset(bad, 4);
        Path png = bad.resolve("1_sumi/img_02.png");
        Files.write(png, new byte[] {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3});
        TrainingException e = assertThrows(TrainingException.class, () -> TrainRuns.train(TrainRuns.config(model, bad, dir.resolve("bad-out"))));
        assertTrue(e.getMessage().startsWith(bad + ": the dataset check found 1 error(s); first: "), e.getMessage());
        assertTrue(e.getMessage().contains("img_02.png"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
        assertFalse(Files.exists(dir.resolve("bad-out").resolve("demo.safetensors")));
    }

    @Test
    void aModelWithoutAUnetIsRefused() throws Exception {
        Path noUnet = TrainRuns.editedModel(model, dir.resolve("no-unet.safetensors"), (name, v) -> name.startsWith("model.diffusion_model.") ? null : v);
        Exception e = assertThrows(Exception.class, () -> TrainRuns.train(TrainRuns.config(noUnet, data, dir.resolve("no-unet"))));
        assertTrue(e.getMessage().startsWith(noUnet.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("UNet"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }

    @Test
    void anExistingOutputFileIsRefusedAndKept() throws Exception {
        Path out = Files.createDirectories(dir.resolve("existing"));
        Path mine = Files.writeString(out.resolve("demo.safetensors"), "someone's LoRA");
        TrainingException e = assertThrows(TrainingException.class, () -> TrainRuns.train(TrainRuns.config(model, data, out, "max_train_epochs", "1", "train_batch_size", "1")));
        assertTrue(e.getMessage().startsWith(mine + ": already exists"), e.getMessage());
        assertEquals("someone's LoRA", Files.readString(mine));
        assertEquals(List.of(mine), safetensorsUnder(out));

        // an interrupted run's state is not replaced by a fresh run either: it points to --resume
        Path interrupted = Files.createDirectories(dir.resolve("interrupted").resolve("demo-state"));
        e = assertThrows(TrainingException.class, () -> TrainRuns.train(TrainRuns.config(model, data, interrupted.getParent(), "max_train_epochs", "1")));
        assertTrue(e.getMessage().startsWith(interrupted + ": already exists; "), e.getMessage());
        assertTrue(e.getMessage().contains("--resume " + interrupted), e.getMessage());
    }

    @Test
    void aBadConfigValueStopsSumiTrainWithOneLine() throws Exception {
        Path toml = Files.writeString(dir.resolve("bad.toml"), """
                pretrained_model_name_or_path = "%s"
                train_data_dir = "%s"
                output_dir = "%s"
                train_batch_size = 0
                """.formatted(model, data, dir.resolve("toml-out")));
        String[] r = sumi("train", "--config", toml.toString());
        assertEquals("1", r[0]);
        assertTrue(r[1].strip().startsWith("sumi: " + toml + ":4: train_batch_size: "), r[1]);
        assertEquals(1, r[1].strip().lines().count(), r[1]);

        Files.writeString(toml, "network_dimension = 8\n");
        r = sumi("train", "--config", toml.toString());
        assertEquals("1", r[0]);
        assertEquals("sumi: " + toml + ":1: unknown key network_dimension", r[1].strip());
        assertFalse(Files.exists(dir.resolve("toml-out")));
    }

    /** Runs the command line: {exit code, stderr}. */
    private static String[] sumi(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int exit = Main.execute(args);
            return new String[] {String.valueOf(exit), err.toString(StandardCharsets.UTF_8)};
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    private static List<Path> safetensorsUnder(Path out) throws Exception {
        if (!Files.exists(out)) return List.of();
        try (Stream<Path> files = Files.walk(out)) {
            return files.filter(p -> p.getFileName().toString().contains(".safetensors")).toList();
        }
    }

    private static boolean anyNonZero(float[] values) {
        for (float x : values) if (x != 0) return true;
        return false;
    }
}
