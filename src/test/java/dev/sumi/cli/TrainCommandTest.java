package dev.sumi.cli;

import dev.sumi.train.ProgressSink;
import dev.sumi.train.TrainConfig;
import dev.sumi.train.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainCommandTest {

    @TempDir
    Path dir;

    @Test
    void printConfigShowsEveryValueAndWhereItCameFrom() throws Exception {
        Path toml = dir.resolve("run.toml");
        Files.writeString(toml, """
                [model_arguments]
                pretrained_model_name_or_path = "sd15.safetensors"
                [training_arguments]
                train_data_dir = "img"
                output_dir = "out"
                train_batch_size = 4
                network_args = ["conv_dim=4", "conv_alpha=1"]
                """);
        CliTest.Run r = CliTest.run("train", "--config", toml.toString(), "--train-batch-size", "2", "--flip", "--print-config");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("train_batch_size                = 2   # --train-batch-size"), r.out());
        assertTrue(r.out().contains("pretrained_model_name_or_path   = sd15.safetensors   # " + toml + ":2: pretrained_model_name_or_path"), r.out());
        assertTrue(r.out().contains("conv_dim                        = 4   # " + toml + ":7: network_args"), r.out());
        assertTrue(r.out().contains("flip_aug                        = true   # --flip"), r.out());
        assertTrue(r.out().contains("optimizer_type                  = Lion   # default"), r.out());
        assertTrue(r.out().contains("seed                            = random (drawn at start)"), r.out());

        CliTest.Run j = CliTest.run("train", "--config", toml.toString(), "--json", "--print-config");
        assertEquals(0, j.exit(), j.err());
        assertTrue(j.out().startsWith("{\"pretrained_model_name_or_path\":\"sd15.safetensors\"") && j.out().contains("\"train_batch_size\":4"), j.out());
    }

    @Test
    void errorsAreOneLineNamingTheKey() throws Exception {
        CliTest.Run r = CliTest.run("train", "--pretrained-model", "m", "--train-data-dir", "d", "--output-dir", "o", "--clip-skip", "x");
        assertEquals(1, r.exit());
        assertEquals("sumi: --clip-skip: expected a number, not \"x\"", r.err().strip());
        Path toml = dir.resolve("bad.toml");
        Files.writeString(toml, "output_dir = \"o\"\n\nsave_every_n_epoch = 2\n");
        r = CliTest.run("train", "--config", toml.toString());
        assertEquals("sumi: " + toml + ":3: unknown key save_every_n_epoch", r.err().strip());
        r = CliTest.run("train", "--pretrained-model", dir.resolve("none.safetensors").toString(), "--train-data-dir", dir.toString(), "--output-dir", dir.resolve("o").toString());
        assertEquals("sumi: " + dir.resolve("none.safetensors") + ": no such model file or folder (pretrained_model_name_or_path)", r.err().strip());
    }

    @Test
    void theTrainerGetsTheValidatedConfigAndAProgressSinkWritingTheLogs() throws Exception {
        Path model = Files.writeString(dir.resolve("m.safetensors"), "x");
        Path data = Files.createDirectories(dir.resolve("img"));
        Path out = dir.resolve("out");
        AtomicReference<TrainConfig> got = new AtomicReference<>();
        Supplier<Trainer> before = TrainCommand.trainers;
        TrainCommand.trainers = () -> (config, progress) -> {
            got.set(config);
            progress.start(new ProgressSink.Start(1, 1, 0, 1, "test"));
            progress.step(new ProgressSink.Step(1, 1, 0.25, 1e-4, -1, false));
            progress.done(1, null);
        };
        try {
            CliTest.Run r = CliTest.run("train", "--pretrained-model", model.toString(), "--train-data-dir", data.toString(), "--output-dir", out.toString(),
                    "--json", "--max-train-steps", "1");
            assertEquals(0, r.exit(), r.err());
            assertNotNull(got.get().seed(), "a seed is drawn and recorded when none is given");
            assertEquals(1, got.get().maxTrainSteps());
            assertTrue(r.out().contains("{\"event\":\"step\",\"epoch\":1,\"step\":1"), r.out());
            assertTrue(Files.readString(out.resolve("loss.csv")).contains("\n1,1,0.25,"));
            assertTrue(Files.readString(out.resolve("train.log")).contains("done: 1 steps"));

            TrainCommand.trainers = () -> (config, progress) -> {
                throw new IllegalStateException("device lost");
            };
            r = CliTest.run("train", "--pretrained-model", model.toString(), "--train-data-dir", data.toString(), "--output-dir", out.toString(), "--json");
            assertEquals(1, r.exit());
            assertTrue(r.out().contains("{\"event\":\"error\",\"message\":\"device lost\"}"), r.out());
            assertEquals("sumi: device lost", r.err().strip());
        } finally {
            TrainCommand.trainers = before;
        }
    }
}
