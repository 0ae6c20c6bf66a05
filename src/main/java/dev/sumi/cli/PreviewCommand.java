package dev.sumi.cli;

import dev.sumi.data.RgbImage;
import dev.sumi.device.Device;
import dev.sumi.image.Infotext;
import dev.sumi.image.PngFile;
import dev.sumi.lora.LoraInfo;
import dev.sumi.model.Checkpoint;
import dev.sumi.sample.GenerationRequest;
import dev.sumi.sample.Generator;
import dev.sumi.sample.PreviewGrid;
import dev.sumi.sample.SamplePrompts;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.TensorEntry;
import dev.sumi.util.FileNames;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The grid train-tools draws of a training run: every LoRA file in a folder (rows, in epoch order) at every weight
 * (columns, 0.6..1.0 by default), one prompt and seed, with labelled axes; written beside the files.
 */
@Command(name = "preview", mixinStandardHelpOptions = true, description = "Draw an X/Y grid of every LoRA file of a training run at several weights.")
public final class PreviewCommand implements Callable<Integer> {

    @Parameters(paramLabel = "RUN_DIR", description = "The training's output folder (its .safetensors LoRA files).")
    Path runDir;

    @Mixin
    GenerationOptions image;

    @Mixin
    DeviceOption device;

    @Option(names = {"--prompt", "-p"}, description = "The prompt (default: the first prompt of --sample-prompts).")
    String prompt;

    @Option(names = "--sample-prompts", description = "A kohya preview prompt file: its first prompt and options are drawn.")
    Path samplePrompts;

    @Option(names = "--weights", split = ",", defaultValue = "0.6,0.7,0.8,0.9,1.0", description = "LoRA weights of the columns (default ${DEFAULT-VALUE}).")
    List<Double> weights;

    @Option(names = "--out", description = "The grid's file (default: RUN_DIR/<first file>_grid.png, never over an existing file).")
    Path out;

    @Override
    public Integer call() throws Exception {
        if (!Files.isDirectory(runDir)) throw new IllegalArgumentException(runDir + ": not a folder");
        List<PreviewGrid.Row> rows = loraFiles(runDir);
        if (rows.isEmpty()) throw new IllegalArgumentException(runDir + ": no LoRA .safetensors files in it");
        GenerationRequest request = request();
        try (Checkpoint checkpoint = image.open(); Device d = device.open();
             Generator g = new Generator(checkpoint, d, image.dtype(d), image.tokenizer(), null, m -> System.err.println("sumi: " + m))) {
            g.decoder().setTiling(image.vaeTiling);
            System.err.println("sumi: drawing " + rows.size() + " files x " + weights.size() + " weights on " + d.name());
            RgbImage grid = PreviewGrid.render(g, g.dtype(), rows, weights, request, m -> System.err.println("sumi: " + m));
            Map<String, String> extras = new LinkedHashMap<>();
            extras.put("Grid", "LoRA files x weights " + weights.stream().map(String::valueOf).collect(Collectors.joining(" ")));
            Infotext info = request.infotext(request.prompt(), request.seed(), null, FileNames.stem(image.model), extras);
            Path file = write(grid, Map.of("parameters", info.text()), rows.getFirst());
            System.out.println(file);
        }
        return 0;
    }

    private GenerationRequest request() throws IOException {
        if (samplePrompts != null) {
            SamplePrompts.Prompt first = SamplePrompts.read(samplePrompts).getFirst();
            GenerationRequest base = image.request(prompt != null ? prompt : first.prompt(), 1);
            return first.request(image.width, image.height, base.sampler(), first.seed() != null ? first.seed() : base.seed(), image.clipSkip)
                    .withPrompt(base.prompt());
        }
        if (prompt == null) throw new IllegalArgumentException("preview: give --prompt or --sample-prompts");
        return image.request(prompt, 1);
    }

    private Path write(RgbImage grid, Map<String, String> text, PreviewGrid.Row first) throws IOException {
        if (out != null) {
            Path dir = out.toAbsolutePath().getParent();
            String name = out.getFileName().toString();
            return PngFile.writeNew(dir, name.endsWith(".png") ? name.substring(0, name.length() - 4) : name, grid, text);
        }
        return PngFile.writeUnique(runDir, first.label().replaceFirst("-\\d{6}$", "") + "_grid", grid, text);
    }

    /** The folder's LoRA files, in epoch order (kohya's ss_epoch), the files without an epoch last, then by name. */
    static List<PreviewGrid.Row> loraFiles(Path dir) throws IOException {
        record Found(Path file, int epoch) {}
        List<Found> found = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : files.filter(f -> f.getFileName().toString().endsWith(".safetensors") && Files.isRegularFile(f)).toList()) {
                try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
                    if (!LoraInfo.looksLikeLora(f.tensors().stream().map(TensorEntry::name).collect(Collectors.toSet()))) continue;
                    String epoch = f.metadata().get("ss_epoch");
                    found.add(new Found(p, epoch != null && epoch.matches("\\d+") ? Integer.parseInt(epoch) : Integer.MAX_VALUE));
                }
            }
        }
        found.sort(Comparator.comparingInt(Found::epoch).thenComparing(x -> x.file().getFileName().toString()));
        List<PreviewGrid.Row> rows = new ArrayList<>();
        for (Found f : found) rows.add(new PreviewGrid.Row(f.file(), FileNames.stem(f.file())));
        return rows;
    }
}
