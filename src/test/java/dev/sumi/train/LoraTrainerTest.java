package dev.sumi.train;

import dev.sumi.lora.A1111LoraCheck;
import dev.sumi.lora.A1111LoraNames;
import dev.sumi.lora.KohyaLoraFile;
import dev.sumi.lora.LoraTensors;
import dev.sumi.model.Checkpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The training loop end to end on the tiny model (issue #7): what a run writes, and that a resumed run, from an
 * epoch's state or from an interrupt in the middle of an epoch, ends bit-identical to an uninterrupted one.
 * One uninterrupted run (2 epochs of 2 steps, every epoch saved with its state) is the reference of every test.
 */
class LoraTrainerTest {

    @TempDir
    static Path dir;
    static Path model, data, full;
    static TrainRuns.Recorder fullRun;

    @BeforeAll
    static void uninterruptedRun() throws Exception {
        model = TrainRuns.tinyModel(dir);
        data = TrainRuns.dataset(dir.resolve("data"), 4);
        full = dir.resolve("full");
        fullRun = TrainRuns.train(TrainRuns.config(model, data, full, "save_state", "true"));
    }

    @Test
    void theUninterruptedRunReportsEveryStepAndSavesEveryEpoch() {
        assertTrue(fullRun.done);
        assertEquals(List.of(1L, 2L, 3L, 4L), fullRun.steps.stream().map(ProgressSink.Step::step).toList());
        assertTrue(fullRun.steps.stream().noneMatch(ProgressSink.Step::skipped));
        assertTrue(fullRun.steps.stream().allMatch(s -> Double.isFinite(s.loss()) && s.loss() > 0), fullRun.steps.toString());
        assertEquals(List.of(full.resolve("demo-000001.safetensors"), full.resolve("demo-000001-state"), full.resolve("demo.safetensors"), full.resolve("demo-state")),
                fullRun.saved);
        assertEquals(full.resolve("demo.safetensors"), fullRun.lastFile);
    }

    @Test
    void savedFilesPassA1111sCheckAndHoldTheTrainedWeightsInFp16() throws Exception {
        A1111LoraNames.Modules base;
        try (Checkpoint c = Checkpoint.open(model, null)) {
            base = A1111LoraNames.of(c.architecture());
        }
        for (String[] saved : new String[][] {{"demo-000001.safetensors", "demo-000001-state", "1", "2"}, {"demo.safetensors", "demo-state", "2", "4"}}) {
            Path file = full.resolve(saved[0]);
            Map<String, ?> targets = A1111LoraCheck.check(file, base);
            KohyaLoraFile.Contents read = KohyaLoraFile.read(file);
            assertEquals(targets.size(), read.modules().size());
            assertEquals(List.of(), read.otherKeys());
            assertTrainedWeights(TrainState.load(full.resolve(saved[1])), read.modules(), true);

            Map<String, String> m = read.metadata();
            for (String key : List.of("ss_network_dim", "ss_network_alpha", "ss_epoch", "ss_steps", "ss_num_epochs", "ss_seed", "ss_tag_frequency",
                    "ss_network_module", "ss_learning_rate", "ss_sd_model_name", "sshs_model_hash", "sshs_legacy_hash")) {
                assertNotNull(m.get(key), saved[0] + " lacks " + key + ": " + m.keySet());
            }
            assertEquals("4", m.get("ss_network_dim"));
            assertEquals(2.0, Double.parseDouble(m.get("ss_network_alpha")));
            assertEquals(saved[2], m.get("ss_epoch"));
            assertEquals(saved[3], m.get("ss_steps"));
            assertEquals("2", m.get("ss_num_epochs"));
            assertEquals("1", m.get("ss_seed"));
            assertEquals("tiny.safetensors", m.get("ss_sd_model_name"));
            assertTrue(m.get("ss_tag_frequency").contains("\"1_sumi\""), m.get("ss_tag_frequency"));
        }
    }

    @Test
    void resumingFromAnEpochsStateEndsBitIdenticalToTheUninterruptedRun() throws Exception {
        Path out = dir.resolve("resumed");
        TrainRuns.Recorder r = TrainRuns.train(TrainRuns.config(model, data, out, "save_state", "true", "save_precision", "float",
                "resume", full.resolve("demo-000001-state").toString()));
        assertEquals(List.of(3L, 4L), r.steps.stream().map(ProgressSink.Step::step).toList());
        assertSameFinalState(out);

        // --save-precision float: the file holds the trained F32 masters exactly
        KohyaLoraFile.Contents read = KohyaLoraFile.read(out.resolve("demo.safetensors"));
        assertTrainedWeights(TrainState.load(full.resolve("demo-state")), read.modules(), false);
        assertEquals("4", read.metadata().get("ss_steps"));
    }

    @Test
    void anInterruptMidEpochSavesAStateThatResumesBitIdentically() throws Exception {
        Path out = dir.resolve("interrupted");
        TrainRuns.Recorder first = TrainRuns.train(new LoraTrainer(), TrainRuns.config(model, data, out, "save_state", "true"), 1);
        assertFalse(first.done);
        assertEquals(List.of(1L), first.steps.stream().map(ProgressSink.Step::step).toList());
        assertEquals(List.of(out.resolve("demo-state")), first.saved);
        TrainState mid = TrainState.load(out.resolve("demo-state"));
        assertEquals(1, mid.step());
        assertEquals(0, mid.epoch());
        assertEquals(1, mid.stepInEpoch());
        assertFalse(Files.exists(out.resolve("demo-000001.safetensors")));

        TrainRuns.Recorder second = TrainRuns.train(TrainRuns.config(model, data, out, "save_state", "true", "resume", out.resolve("demo-state").toString()));
        assertTrue(second.done);
        assertEquals(List.of(2L, 3L, 4L), second.steps.stream().map(ProgressSink.Step::step).toList());
        assertSameFinalState(out);
        assertArrayEquals(tensorBytes(full.resolve("demo.safetensors")), tensorBytes(out.resolve("demo.safetensors")), "the final LoRA's tensors");
    }

    /** The final state's LoRA and optimizer files are byte-identical to the uninterrupted run's. */
    private static void assertSameFinalState(Path out) throws Exception {
        for (String f : List.of("lora.safetensors", "optimizer.safetensors")) {
            assertArrayEquals(Files.readAllBytes(full.resolve("demo-state").resolve(f)), Files.readAllBytes(out.resolve("demo-state").resolve(f)), f);
        }
    }

    /** A LoRA file's tensor data (after the header, whose metadata holds times that differ between runs). */
    private static byte[] tensorBytes(Path file) throws Exception {
        byte[] all = Files.readAllBytes(file);
        long headerBytes = java.nio.ByteBuffer.wrap(all, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        return java.util.Arrays.copyOfRange(all, (int) (8 + headerBytes), all.length);
    }

    /** Each module in the file is the state's master weights, rounded to fp16 when {@code fp16}. */
    private static void assertTrainedWeights(TrainState state, List<LoraTensors> modules, boolean fp16) {
        assertEquals(state.lora().size(), 2 * modules.size());
        for (LoraTensors m : modules) {
            assertArrayEquals(stored(state.lora().get(m.kohyaName() + ".lora_down.weight").data(), fp16), m.down(), m.kohyaName());
            assertArrayEquals(stored(state.lora().get(m.kohyaName() + ".lora_up.weight").data(), fp16), m.up(), m.kohyaName());
            assertEquals(2f, m.alpha(), m.kohyaName());
        }
    }

    private static float[] stored(float[] master, boolean fp16) {
        float[] out = master.clone();
        if (fp16) for (int i = 0; i < out.length; i++) out[i] = Float.float16ToFloat(Float.floatToFloat16(out[i]));
        return out;
    }
}
