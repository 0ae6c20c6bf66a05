package dev.sumi.cli;

import dev.sumi.device.Device;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.clip.ClipTokenizer;
import dev.sumi.sample.GenerationRequest;
import dev.sumi.sample.SamplerKind;
import dev.sumi.tensor.DType;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;

/** The settings of an image that {@code sumi generate} and {@code sumi preview} share, with AUTOMATIC1111's defaults. */
public final class GenerationOptions {
    @Option(names = "--model", required = true, description = "Base checkpoint (.safetensors) or diffusers folder.")
    Path model;

    @Option(names = {"--negative", "--negative-prompt"}, defaultValue = "", description = "Negative prompt.")
    String negative;

    @Option(names = "--steps", defaultValue = "20", description = "Sampling steps (default ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--cfg-scale", defaultValue = "7", description = "Classifier-free guidance scale (default ${DEFAULT-VALUE}; 1 or less: no negative pass).")
    double cfgScale;

    @Option(names = "--sampler", defaultValue = "euler_a", description = "euler_a, euler, ddim or dpmpp_2m_karras (A1111's names too: \"Euler a\"; default ${DEFAULT-VALUE}).")
    String sampler;

    @Option(names = "--seed", defaultValue = "-1", description = "Seed of the first image; image i uses seed + i (default -1: drawn).")
    long seed;

    @Option(names = {"--width", "-W"}, defaultValue = "512", description = "Width in pixels, a multiple of 8 (default ${DEFAULT-VALUE}).")
    int width;

    @Option(names = {"--height", "-H"}, defaultValue = "512", description = "Height in pixels, a multiple of 8 (default ${DEFAULT-VALUE}).")
    int height;

    @Option(names = "--clip-skip", defaultValue = "1", description = "Text encoder layers skipped from the end, A1111's \"Clip skip\" (2 for anime models; default ${DEFAULT-VALUE}).")
    int clipSkip;

    @Option(names = "--precision", defaultValue = "auto", description = "fp32, fp16, bf16, or auto: fp16 on a GPU, fp32 on the host (default ${DEFAULT-VALUE}).")
    String precision;

    @Option(names = "--tokenizer", description = "CLIP tokenizer: a folder with vocab.json + merges.txt, or OpenAI's bpe_simple_vocab_16e6.txt.gz (default: beside the model).")
    Path tokenizer;

    @Option(names = "--v-pred", description = "The model predicts v (SD 2.x 768 px models without a .yaml beside them).")
    boolean vPrediction;

    @Option(names = "--vae-tiling", negatable = true, description = "Decode in 512 px tiles (default: only images above 1 megapixel).")
    Boolean vaeTiling;

    Checkpoint open() throws IOException {
        return Checkpoint.open(model, vPrediction ? Boolean.TRUE : null);
    }

    ClipTokenizer tokenizer() throws IOException {
        return ClipTokenizer.locate(model, tokenizer);
    }

    DType dtype(Device device) {
        return switch (precision.toLowerCase(Locale.ROOT)) {
            case "auto" -> device instanceof dev.sumi.device.HostDevice ? DType.F32 : DType.F16;
            case "fp32", "float", "no" -> DType.F32;
            case "fp16" -> DType.F16;
            case "bf16" -> DType.BF16;
            default -> throw new IllegalArgumentException("--precision " + precision + ": expected auto, fp32, fp16 or bf16");
        };
    }

    /** The request for {@code prompt} (tags already removed) and {@code batch} images; a seed of -1 is drawn now. */
    GenerationRequest request(String prompt, int batch) {
        long s = seed == -1 ? ThreadLocalRandom.current().nextLong(1L << 32) : seed;
        if (s < 0) throw new IllegalArgumentException("--seed " + seed + ": must be -1 (drawn) or at least 0");
        return new GenerationRequest(prompt, negative, SamplerKind.parse(sampler), steps, cfgScale, s, width, height, batch, clipSkip);
    }
}
