package dev.sumi.cli;

import dev.sumi.device.Device;
import dev.sumi.image.ImageNames;
import dev.sumi.image.Infotext;
import dev.sumi.lora.Adapters;
import dev.sumi.lora.DeviceLora;
import dev.sumi.lora.InferenceLoras;
import dev.sumi.lora.LoraLibrary;
import dev.sumi.lora.PromptLoras;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.ModelHashCache;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.sample.GenerationRequest;
import dev.sumi.sample.Generator;
import dev.sumi.tensor.DType;
import dev.sumi.util.FileNames;
import dev.sumi.util.JsonOut;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Text to image, as AUTOMATIC1111's txt2img does it: LoRA files named in the prompt with {@code <lora:NAME:WEIGHT>}
 * (looked up in the LoRA folder) or given with {@code --lora FILE:WEIGHT}, applied without touching the base weights;
 * PNGs named {@code NNNNN-SEED.png} with A1111's {@code parameters} text, never over an existing file.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate images, with LoRA files named in the prompt as <lora:NAME:WEIGHT> (AUTOMATIC1111's syntax).")
public final class GenerateCommand implements Callable<Integer> {

    @Mixin
    GenerationOptions image;

    @Mixin
    DeviceOption device;

    @Option(names = {"--prompt", "-p"}, required = true, description = "The prompt; <lora:NAME:WEIGHT> (or <lora:NAME:TE:UNET>) tags apply LoRA files.")
    String prompt;

    @Option(names = "--batch", defaultValue = "1", description = "Images drawn together (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--n-iter", defaultValue = "1", description = "Batches drawn one after another, A1111's \"Batch count\" (default ${DEFAULT-VALUE}); seeds continue across them.")
    int iterations;

    @Option(names = "--lora", paramLabel = "FILE[:WEIGHT]", description = "A LoRA file to apply (weight default 1); repeatable.")
    List<String> loraFiles = new ArrayList<>();

    @Option(names = "--lora-dir", description = "Where <lora:NAME> looks (default: WEBUI/models/Lora with --webui, else ./models/Lora).")
    Path loraDir;

    @Option(names = "--webui", description = "An AUTOMATIC1111 folder: LoRA files from its models/Lora, images into its outputs/txt2img-images.")
    Path webui;

    @Option(names = "--out", description = "Folder for the images (default: WEBUI/outputs/txt2img-images with --webui, else outputs/txt2img-images).")
    Path out;

    @Option(names = "--json", description = "Print one JSON object per image instead of text.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (iterations < 1) throw new IllegalArgumentException("--n-iter " + iterations + ": must be at least 1");
        PromptLoras.Parsed parsed = PromptLoras.parse(prompt);
        List<InferenceLoras.Applied> applied = new ArrayList<>();
        if (!parsed.loras().isEmpty()) {
            LoraLibrary library = LoraLibrary.scan(loraFolder());
            for (PromptLoras.Reference r : parsed.loras()) {
                applied.add(new InferenceLoras.Applied(library.resolve(r.name()), r.name(), r.textEncoderMultiplier(), r.unetMultiplier()));
            }
        }
        for (String spec : loraFiles) applied.add(fileArgument(spec));
        for (String tag : parsed.ignoredTags()) System.err.println("sumi: ignored prompt tag " + tag + " (only <lora:...> is supported)");
        GenerationRequest request = image.request(parsed.prompt(), batch);
        Path outDir = out != null ? out : webui != null ? webui.resolve("outputs").resolve("txt2img-images") : Path.of("outputs", "txt2img-images");

        try (Checkpoint checkpoint = image.open(); Device d = device.open()) {
            DType dtype = image.dtype(d);
            InferenceLoras.Combined combined = InferenceLoras.combine(applied, checkpoint.architecture());
            for (InferenceLoras.FileReport f : combined.files()) f.warnings().forEach(w -> System.err.println("sumi: " + w));
            try (Generator g = new Generator(checkpoint, d, dtype, image.tokenizer(), null, m -> System.err.println("sumi: " + m));
                 DeviceLora lora = combined.network() == null ? null : combined.network().upload(d, dtype)) {
                g.decoder().setTiling(image.vaeTiling);
                if (lora != null) g.useAdapters(lora.adapters(Component.UNET), lora.adapters(Component.TEXT_ENCODER));
                String modelHash = ModelHashCache.standard().shortHash(image.model);
                Map<String, String> extras = new LinkedHashMap<>();
                String hashes = combined.loraHashes();
                if (!hashes.isEmpty()) extras.put("Lora hashes", hashes);
                for (int iteration = 0; iteration < iterations; iteration++) {
                    Generator.Result result = g.generate(request.withSeed(request.seed() + (long) iteration * request.batch()));
                    for (Generator.Image img : result.images()) {
                        Infotext info = request.infotext(prompt, img.seed(), modelHash, FileNames.stem(image.model), extras);
                        Path file = ImageNames.writeNext(outDir, img.seed(), img.image(), Map.of("parameters", info.text()));
                        if (json) {
                            Map<String, Object> o = new LinkedHashMap<>();
                            o.put("image", file.toString());
                            o.put("seed", img.seed());
                            o.put("it_per_s", result.stepsPerSecond(request.steps()));
                            System.out.println(JsonOut.write(o));
                        } else {
                            System.out.println(file);
                        }
                    }
                    if (!json) {
                        System.err.printf(Locale.ROOT, "sumi: %d image(s), %d steps of %s at %.2f it/s on %s (%s)%n", result.images().size(), request.steps(),
                                request.sampler().a1111Name(), result.stepsPerSecond(request.steps()), d.name(), dtype);
                    }
                }
                g.useAdapters(Adapters.FROZEN, Adapters.FROZEN);
            }
        }
        return 0;
    }

    private Path loraFolder() {
        Path dir = loraDir != null ? loraDir : webui != null ? webui.resolve("models").resolve("Lora") : Path.of("models", "Lora");
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException(dir + ": no LoRA folder there (the prompt names LoRA files; give --lora-dir or --webui)");
        return dir;
    }

    /** FILE or FILE:WEIGHT (the last ':' splits, so Windows drive letters and plain files both work). */
    static InferenceLoras.Applied fileArgument(String spec) {
        int colon = spec.lastIndexOf(':');
        Path file = Path.of(spec);
        float weight = 1f;
        if (colon > 0 && !Files.exists(file)) {
            try {
                weight = Float.parseFloat(spec.substring(colon + 1));
                file = Path.of(spec.substring(0, colon));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--lora " + spec + ": expected FILE or FILE:WEIGHT");
            }
        }
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(file + ": no such LoRA file (--lora)");
        return new InferenceLoras.Applied(file, FileNames.stem(file), weight, weight);
    }
}
