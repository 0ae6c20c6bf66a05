package dev.sumi.train;

import dev.sumi.train.TrainConfigReader.Setting;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainConfigTest {

    @TempDir
    Path dir;

    static Map<TrainOption, Setting> flags(Object... kv) {
        Map<TrainOption, Setting> m = new EnumMap<>(TrainOption.class);
        m.put(TrainOption.PRETRAINED_MODEL_NAME_OR_PATH, new Setting("model.safetensors", "--pretrained-model"));
        m.put(TrainOption.TRAIN_DATA_DIR, new Setting("data", "--train-data-dir"));
        m.put(TrainOption.OUTPUT_DIR, new Setting("out/run1", "--output-dir"));
        for (int i = 0; i < kv.length; i += 2) {
            TrainOption o = (TrainOption) kv[i];
            m.put(o, new Setting(kv[i + 1], o.flags()[0]));
        }
        return m;
    }

    @Test
    void defaultsAreTheTrainToolsOnes() {
        TrainConfig c = TrainConfigReader.resolve(flags());
        assertEquals(TrainConfig.Optimizer.Type.LION, c.optimizer().type());
        assertEquals(1e-4, c.learningRate());
        assertEquals(1e-4, c.unetLr());
        assertEquals(0.1, c.optimizer().weightDecay());
        assertEquals(0.99, c.optimizer().beta2());
        assertEquals(LrSchedule.Kind.COSINE, c.lrScheduler());
        assertEquals(128, c.networkDim());
        assertEquals(64.0, c.networkAlpha());
        assertEquals(20, c.maxTrainEpochs());
        assertNull(c.maxTrainSteps());
        assertEquals(2, c.saveEveryNEpochs());
        assertEquals(1, c.trainBatchSize());
        assertEquals(2, c.clipSkip());
        assertEquals(150, c.maxTokenLength());
        assertEquals(TrainConfig.Precision.FP16, c.mixedPrecision());
        assertEquals("run1", c.outputName());
        assertEquals(512, c.width());
        assertTrue(c.trainUnet() && c.trainTextEncoder());
        assertNull(c.repeats());
        assertEquals(128, c.repeatsFor(4));   // auto: max(4, 512 / images)
        assertEquals(4, c.repeatsFor(500));
        assertNull(c.convDim());
        assertNull(c.seed());
    }

    @Test
    void valuesConvertFromFlagTextAndKohyaSpellings() {
        TrainConfig c = TrainConfigReader.resolve(flags(TrainOption.RESOLUTION, "512,768", TrainOption.OPTIMIZER_TYPE, "adamw",
                TrainOption.OPTIMIZER_ARGS, List.of("weight_decay=0.01", "betas=(0.9,0.98)", "eps=1e-6"), TrainOption.NETWORK_ARGS,
                List.of("conv_dim=8", "conv_alpha=4"), TrainOption.MAX_TRAIN_STEPS, "300", TrainOption.LR_SCHEDULER, "cosine-with-restarts",
                TrainOption.NETWORK_TRAIN_UNET_ONLY, "true", TrainOption.MIXED_PRECISION, "bf16", TrainOption.SAVE_PRECISION, "float",
                TrainOption.REPEATS, "10", TrainOption.SEED, "1234", TrainOption.MIN_SNR_GAMMA, "5", TrainOption.TEXT_ENCODER_LR, "5e-5"));
        assertEquals(512, c.width());
        assertEquals(768, c.height());
        assertEquals(new TrainConfig.Optimizer(TrainConfig.Optimizer.Type.ADAMW, 0.01, 0.9, 0.98, 1e-6), c.optimizer());
        assertEquals(8, c.convDim());
        assertEquals(4.0, c.convAlpha());
        assertNull(c.maxTrainEpochs());   // steps given alone bound the run
        assertEquals(300, c.maxTrainSteps());
        assertEquals(LrSchedule.Kind.COSINE_WITH_RESTARTS, c.lrScheduler());
        assertTrue(c.trainUnet());
        assertFalse(c.trainTextEncoder());
        assertEquals(TrainConfig.Precision.FP32, c.savePrecision());
        assertEquals(10, c.repeatsFor(1000));
        assertEquals(1234L, c.seed());
        assertEquals(5.0, c.minSnrGamma());
        assertEquals(5e-5, c.textEncoderLr());
        assertEquals(1e-4, c.unetLr());
        Map<String, Object> meta = c.kohyaMetadata();
        assertEquals("AdamW(weight_decay=0.01,betas=(0.9,0.98),eps=1.0E-6)", meta.get("ss_optimizer"));
        assertEquals(Map.of("conv_dim", "8", "conv_alpha", "4.0"), meta.get("ss_network_args"));
        assertEquals(128, meta.get("ss_network_dim"));
        assertEquals(List.of(), c.resumeMismatches(c.toMap()));
        Map<String, Object> saved = c.toMap();
        saved.put("network_dim", 64);
        assertEquals(List.of("network_dim: saved 64, now 128"), c.resumeMismatches(saved));
    }

    @Test
    void tomlKeysInTablesAndBothSpellingsAndFlagsOverride() throws Exception {
        Path toml = dir.resolve("my.toml");
        Files.writeString(toml, """
                [model_arguments]
                pretrained_model_name_or_path = "sd15.safetensors"
                [training_arguments]
                train-data-dir = "img"
                output_dir = "out"
                train_batch_size = 4
                network_args = ["conv_dim=4", "conv_alpha=1"]
                enable_bucket = true
                learning_rate = 2e-4
                """);
        Map<TrainOption, Setting> s = TrainConfigReader.readToml(toml);
        assertEquals(toml + ":6: train_batch_size", s.get(TrainOption.TRAIN_BATCH_SIZE).origin());
        s.put(TrainOption.TRAIN_BATCH_SIZE, new Setting("2", "--train-batch-size"));   // the command line wins
        TrainConfig c = TrainConfigReader.resolve(s);
        assertEquals(Path.of("sd15.safetensors"), c.pretrainedModel());
        assertEquals(Path.of("img"), c.trainDataDir());
        assertEquals(2, c.trainBatchSize());
        assertEquals(4, c.convDim());
        assertEquals(1.0, c.convAlpha());
        assertTrue(c.enableBucket());
        assertEquals(2e-4, c.learningRate());
    }

    @Test
    void badValuesNameTheKeyAndWhere() throws Exception {
        Path toml = dir.resolve("bad.toml");
        Files.writeString(toml, "output_dir = \"o\"\nlearning_rat = 1e-4\n");
        assertEquals(toml + ":2: unknown key learning_rat", assertThrows(IllegalArgumentException.class, () -> TrainConfigReader.readToml(toml)).getMessage());
        Files.writeString(toml, "[t]\nclip_skip = 0\n");
        Map<TrainOption, Setting> s = flags();
        s.putAll(TrainConfigReader.readToml(toml));
        assertEquals(toml + ":2: clip_skip: must be in 1..24, not 0", assertThrows(IllegalArgumentException.class, () -> TrainConfigReader.resolve(s)).getMessage());

        assertError("--train-batch-size: expected a whole number, not 1.5", TrainOption.TRAIN_BATCH_SIZE, "1.5");
        assertError("--optimizer-type: AdamW8bit (8-bit optimizer states) is not supported yet; use AdamW or Lion", TrainOption.OPTIMIZER_TYPE, "AdamW8bit");
        assertError("--optimizer-args: Lion has no eps", TrainOption.OPTIMIZER_ARGS, List.of("eps=1e-8"));
        assertError("--resolution: 500 is not a multiple of 8 (the VAE's scale)", TrainOption.RESOLUTION, "500");
        assertError("--max-token-length: must be 75, 150 or 225, not 100", TrainOption.MAX_TOKEN_LENGTH, "100");
        assertError("--mixed-precision: expected no, fp16 or bf16, not fp8", TrainOption.MIXED_PRECISION, "fp8");
        assertError("--network-args: unknown network argument algo (sumi knows conv_dim and conv_alpha)", TrainOption.NETWORK_ARGS, List.of("algo=locon"));
        assertError("--learning-rate: must be > 0, not -1", TrainOption.LEARNING_RATE, "-1");
        assertError("--lr-scheduler: unknown lr_scheduler \"step\" (constant, constant_with_warmup, linear, cosine, cosine_with_restarts, polynomial)",
                TrainOption.LR_SCHEDULER, "step");
        assertError("--flip: expected true or false, not yes", TrainOption.FLIP_AUG, "yes");
        assertError("--network-module: sumi trains networks.lora only, not lycoris.kohya", TrainOption.NETWORK_MODULE, "lycoris.kohya");
        assertError("--network-train-text-encoder-only: cannot be combined with network_train_unet_only", TrainOption.NETWORK_TRAIN_UNET_ONLY, "true");
        assertError("--min-bucket-reso: buckets 1024..1024 must contain the resolution 512,512", TrainOption.MIN_BUCKET_RESO, "1024");
        Map<TrainOption, Setting> none = new EnumMap<>(TrainOption.class);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TrainConfigReader.resolve(none)).getMessage().startsWith("missing --output-dir"));
        assertEquals(dir.resolve("nope.toml") + ": no such config file",
                assertThrows(IllegalArgumentException.class, () -> TrainConfigReader.readToml(dir.resolve("nope.toml"))).getMessage());
    }

    private static void assertError(String message, TrainOption o, Object value) {
        Map<TrainOption, Setting> s = flags(o, value);
        if (o == TrainOption.NETWORK_TRAIN_UNET_ONLY) s.put(TrainOption.NETWORK_TRAIN_TEXT_ENCODER_ONLY, new Setting("true", "--network-train-text-encoder-only"));
        if (o == TrainOption.MIN_BUCKET_RESO) s.put(TrainOption.ENABLE_BUCKET, new Setting(true, "--buckets"));
        assertEquals(message, assertThrows(IllegalArgumentException.class, () -> TrainConfigReader.resolve(s)).getMessage());
    }
}
