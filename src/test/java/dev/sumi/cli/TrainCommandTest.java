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
        assertTrue(r.out().matches("(?s).*\ntrain_batch_size = 2 +# --train-batch-size\n.*"), r.out());
        assertTrue(r.out().matches("(?s)pretrained_model_name_or_path = \"sd15.safetensors\" +# " + java.util.regex.Pattern.quote(toml + ":2: pretrained_model_name_or_path") + "\n.*"), r.out());
        assertTrue(r.out().matches("(?s).*\nconv_dim = 4 +# " + java.util.regex.Pattern.quote(toml + ":7: network_args") + "\n.*"), r.out());
        assertTrue(r.out().matches("(?s).*\nflip_aug = true +# --flip\n.*"), r.out());
        assertTrue(r.out().matches("(?s).*\noptimizer_type = \"Lion\" +# default\n.*"), r.out());
        assertTrue(r.out().matches("(?s).*\n# seed = +# default: drawn at start\n.*"), r.out());

        // the printed config is a TOML config that reads back to the same settings
        Path printed = Files.writeString(dir.resolve("printed.toml"), r.out());
        CliTest.Run again = CliTest.run("train", "--config", printed.toString(), "--print-config");
        assertEquals(0, again.exit(), again.err());
        assertEquals(values(r.out()), values(again.out()));

        CliTest.Run j = CliTest.run("train", "--config", toml.toString(), "--json", "--print-config");
        assertEquals(0, j.exit(), j.err());
        assertTrue(j.out().startsWith("{\"pretrained_model_name_or_path\":\"sd15.safetensors\"") && j.out().contains("\"train_batch_size\":4"), j.out());
    }

    private static java.util.List<String> values(String printed) {
        return printed.lines().map(l -> l.substring(0, l.indexOf(" #") + 1).strip()).toList();
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
        TrainCommand.trainers = () -> (config, progress, interrupt) -> {
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

            TrainCommand.trainers = () -> (config, progress, interrupt) -> {
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
