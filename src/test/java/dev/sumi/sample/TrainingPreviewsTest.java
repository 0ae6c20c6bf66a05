package dev.sumi.sample;

import dev.sumi.data.RgbImage;
import dev.sumi.demo.DemoDataset;
import dev.sumi.image.Infotext;
import dev.sumi.image.PngFile;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.train.Interrupt;
import dev.sumi.train.LoraTrainer;
import dev.sumi.train.ProgressSink;
import dev.sumi.train.TrainConfig;
import dev.sumi.train.TrainConfigReader;
import dev.sumi.train.TrainOption;
import dev.sumi.train.TrainingException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** kohya's preview options on a real (tiny) run: images every epoch, and the grid of every saved file after the last. */
class TrainingPreviewsTest {

    static TrainConfig config(Path model, Path data, Path out, Path prompts, String... more) {
        Map<TrainOption, TrainConfigReader.Setting> s = new EnumMap<>(TrainOption.class);
        String[] base = {"pretrained_model_name_or_path", model.toString(), "train_data_dir", data.toString(), "output_dir", out.toString(),
                "output_name", "pv", "resolution", "64", "max_train_epochs", "2", "save_every_n_epochs", "1", "mixed_precision", "no",
                "network_dim", "4", "network_alpha", "4", "seed", "3", "learning_rate", "3e-3", "optimizer_type", "AdamW", "lr_scheduler", "constant",
                "max_token_length", "75", "train_batch_size", "4", "device", "host", "clip_skip", "1", "sample_prompts", prompts.toString()};
        List<String> all = new ArrayList<>(List.of(base));
        all.addAll(List.of(more));
        for (int i = 0; i < all.size(); i += 2) s.put(TrainOption.find(all.get(i)), new TrainConfigReader.Setting(all.get(i + 1), "--" + all.get(i)));
        return TrainConfigReader.resolve(s);
    }

    @Test
    void previewsEveryEpochAndAGridOfEverySavedFileAtEveryWeight(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("tiny.safetensors");
        RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 1), 1, StoredType.F32, model, false);
        Path data = dir.resolve("data");
        DemoDataset.write(data, 4, 1, 1);
        Path prompts = dir.resolve("prompts.txt");
        Files.writeString(prompts, "# two previews\na red square on a pale background --n blurry --w 32 --h 32 --s 3 --l 5\nblue circle --w 32 --h 32 --s 2 --d 77 --ss ddim\n");
        Path out = dir.resolve("out");
        TrainConfig c = config(model, data, out, prompts, "sample_every_n_epochs", "1", "preview_weights", "0.5 1");

        List<Path> samples = new ArrayList<>();
        ProgressSink sink = new ProgressSink() {
            public void start(Start s) {}
            public void step(Step s) {}
            public void epochEnd(int epoch, double meanLoss) {}
            public void saved(String kind, Path path) {}
            public void sample(Path image) { samples.add(image); }
            public void done(long steps, Path lastFile) {}
            public void error(String message) {}
            public void message(String text) {}
        };
        new LoraTrainer(TrainingPreviews.of(c)).train(c, sink, new Interrupt(Duration.ofSeconds(10)));

        // 2 epochs x 2 prompts, named as kohya names them (seed: the run's seed + the prompt's index unless --d), then the grid
        Path sample = out.resolve("sample");
        assertEquals(List.of(sample.resolve("pv_e000001_00_3.png"), sample.resolve("pv_e000001_01_77.png"),
                sample.resolve("pv_e000002_00_3.png"), sample.resolve("pv_e000002_01_77.png"), out.resolve("pv_grid.png")), samples);
        Infotext info = Infotext.parse(PngFile.readText(Files.readAllBytes(samples.get(1))).get("parameters"));
        assertEquals("blue circle", info.prompt());
        assertEquals("DDIM", info.sampler());
        assertEquals(77, info.seed());
        assertEquals(2, info.steps());
        BufferedImage first = ImageIO.read(samples.getFirst().toFile());
        assertEquals(32, first.getWidth());
        // the grid: two rows (pv-000001, pv) x two columns (0.5, 1) of 32 px cells plus labelled margins
        BufferedImage grid = ImageIO.read(out.resolve("pv_grid.png").toFile());
        assertTrue(grid.getWidth() > 2 * 32 && grid.getHeight() > 2 * 32, grid.getWidth() + "x" + grid.getHeight());

        // drawing previews (which frees and rebuilds the step buffers) leaves the training itself untouched
        Path plain = dir.resolve("plain");
        TrainConfig without = config(model, data, plain, prompts, "preview_grid", "false");
        new LoraTrainer(TrainingPreviews.of(without)).train(without, sink, new Interrupt(Duration.ofSeconds(10)));
        assertTrue(java.util.Arrays.equals(tensorBytes(out.resolve("pv.safetensors")), tensorBytes(plain.resolve("pv.safetensors"))),
                "the LoRA trained with previews differs from the one trained without");
    }

    /** The file's tensor bytes (its metadata holds times and paths, which differ between runs). */
    private static byte[] tensorBytes(Path file) throws java.io.IOException {
        try (dev.sumi.tensor.safetensors.SafeTensorsFile f = dev.sumi.tensor.safetensors.SafeTensorsFile.open(file)) {
            java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
            for (dev.sumi.tensor.safetensors.TensorEntry e : f.tensors()) {
                java.nio.ByteBuffer b = f.data(e).asByteBuffer();
                byte[] bytes = new byte[b.remaining()];
                b.get(bytes);
                all.writeBytes(e.name().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                all.writeBytes(bytes);
            }
            return all.toByteArray();
        }
    }

    @Test
    void aBadPromptFileStopsTheRunBeforeItsFirstStep(@TempDir Path dir) throws Exception {
        Path prompts = dir.resolve("prompts.txt");
        Files.writeString(prompts, "a cat --ss heun\n");
        TrainConfig c = config(dir.resolve("m.safetensors"), dir, dir.resolve("out"), prompts, "sample_every_n_epochs", "1");
        TrainingException e = assertThrows(TrainingException.class, () -> TrainingPreviews.of(c));
        assertTrue(e.getMessage().startsWith(prompts + ":1: unknown sampler 'heun'"), e.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> {
            Map<TrainOption, TrainConfigReader.Setting> s = new EnumMap<>(TrainOption.class);
            for (String[] kv : new String[][] {{"pretrained_model_name_or_path", "m"}, {"train_data_dir", "d"}, {"output_dir", "o"}, {"sample_every_n_epochs", "2"}}) {
                s.put(TrainOption.find(kv[0]), new TrainConfigReader.Setting(kv[1], "--" + kv[0]));
            }
            TrainConfigReader.resolve(s);
        });
        assertTrue(missing.getMessage().contains("needs sample_prompts"), missing.getMessage());
    }
}
