package dev.sumi.sample;

import dev.sumi.data.RgbImage;
import dev.sumi.image.PngFile;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.train.TrainConfig;
import dev.sumi.train.TrainingException;
import dev.sumi.train.TrainingHooks;

import dev.sumi.util.FileNames;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Preview images while a LoRA trains, as kohya's {@code --sample_prompts} / {@code --sample_every_n_epochs} /
 * {@code --sample_at_first}: every prompt of the file drawn with the LoRA being trained, saved as
 * {@code output_dir/sample/<name>_e<epoch:06d>_<prompt:02d>_<seed>.png} with AUTOMATIC1111's parameters text. Then,
 * after the last epoch, the X/Y grid of every saved file x the preview weights ({@link PreviewGrid}), saved as
 * {@code output_dir/<name>_grid.png}.
 *
 * <p>Defaults where a prompt gives none: the training resolution (kohya uses 512 x 512; a LoRA is best judged at the
 * size it was trained at), 30 steps and CFG 7.5 (kohya's), the run's seed plus the prompt's index (kohya draws a new
 * random seed each time; a fixed one makes the epochs comparable), the training clip skip.
 */
public final class TrainingPreviews implements TrainingHooks {

    private final TrainConfig.Previews options;
    private final List<SamplePrompts.Prompt> prompts;
    private final SamplerKind sampler;

    /** Reads the prompt file and checks the sampler now, so a mistake stops the run before its first step. */
    public TrainingPreviews(TrainConfig.Previews options) {
        this.options = options;
        try {
            this.sampler = SamplerKind.parse(options.sampler());
        } catch (IllegalArgumentException e) {
            throw new TrainingException("sample_sampler: " + e.getMessage());
        }
        try {
            this.prompts = options.samplePrompts() == null ? List.of() : SamplePrompts.read(options.samplePrompts());
        } catch (IOException e) {
            throw new TrainingException(e.getMessage());
        }
    }

    /** The hooks a config asks for: previews when it names a prompt file, else none. */
    public static TrainingHooks of(TrainConfig config) {
        return config.previews().samplePrompts() == null ? TrainingHooks.NONE : new TrainingPreviews(config.previews());
    }

    @Override
    public void beforeFirstStep(LiveModel live) {
        if (options.atFirst()) drawPrompts(0, live);
    }

    @Override
    public boolean usesDeviceAfterEpoch(int epoch) {
        return options.everyNEpochs() > 0 && epoch % options.everyNEpochs() == 0;
    }

    @Override
    public void afterEpoch(int epoch, Path saved, LiveModel live) {
        if (usesDeviceAfterEpoch(epoch)) drawPrompts(epoch, live);
    }

    @Override
    public void afterTraining(List<Path> saved, LiveModel live) {
        if (!options.grid() || saved.isEmpty() || prompts.isEmpty()) return;
        TrainConfig c = live.config();
        GenerationRequest request = request(prompts.getFirst(), c);
        List<PreviewGrid.Row> rows = new ArrayList<>();
        for (Path file : saved) rows.add(new PreviewGrid.Row(file, FileNames.stem(file)));
        live.progress().message("drawing the preview grid: " + rows.size() + " files x " + options.weights().size() + " weights");
        try (Generator g = generator(live)) {
            RgbImage grid = PreviewGrid.render(g, live.dtype(), rows, options.weights(), request, live.progress()::message);
            Path file = PngFile.writeUnique(c.outputDir(), c.outputName() + "_grid", grid, infotext(request, c, "LoRA weights " + options.weights()));
            live.progress().sample(file);
        } catch (IOException e) {
            throw new TrainingException("preview grid: " + e.getMessage());
        }
    }

    private void drawPrompts(int epoch, LiveModel live) {
        TrainConfig c = live.config();
        Path dir = c.outputDir().resolve("sample");
        try (Generator g = generator(live)) {
            g.useAdapters(live.lora().adapters(Component.UNET), live.lora().adapters(Component.TEXT_ENCODER));
            for (SamplePrompts.Prompt p : prompts) {
                GenerationRequest r = request(p, c);
                RgbImage image = g.generate(r).images().getFirst().image();
                String base = String.format("%s_e%06d_%02d_%d", c.outputName(), epoch, p.index(), r.seed());
                live.progress().sample(PngFile.writeUnique(dir, base, image, infotext(r, c, null)));
            }
        } catch (IOException e) {
            throw new TrainingException(dir + ": cannot save a preview image: " + e.getMessage());
        }
    }

    /**
     * A generator over the run's UNet weights, opened per drawing and closed after it: its text encoder and VAE
     * weights are loaded again each time (a fraction of a second) rather than held on the device all through training.
     */
    private static Generator generator(LiveModel live) {
        return new Generator(live.checkpoint(), live.device(), live.dtype(), live.tokenizer(), live.unetWeights(), live.progress()::message);
    }

    private GenerationRequest request(SamplePrompts.Prompt p, TrainConfig c) {
        long seed = (c.seed() == null ? 0 : c.seed()) + p.index();
        return p.request(c.width(), c.height(), sampler, seed, c.clipSkip());
    }

    static Map<String, String> infotext(GenerationRequest r, TrainConfig c, String note) {
        Map<String, String> extras = new java.util.LinkedHashMap<>();
        extras.put("Lora", c.outputName());
        if (note != null) extras.put("Grid", note);
        return Map.of("parameters", r.infotext(r.prompt(), r.seed(), null, FileNames.stem(c.pretrainedModel()), extras).text());
    }
}
