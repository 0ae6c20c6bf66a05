package dev.sumi.bench;

import dev.sumi.device.Device;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.ModelFormatException;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.model.clip.ClipTokenizer;
import dev.sumi.model.clip.TokenizerBuilder;
import dev.sumi.sample.GenerationRequest;
import dev.sumi.sample.Generator;
import dev.sumi.sample.SampleResult;
import dev.sumi.sample.SamplerKind;
import dev.sumi.sample.SeededNoise;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.safetensors.StoredType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Text to image end to end, timed as AUTOMATIC1111 reports it: it/s (sampler steps of the whole batch per second,
 * the UNet with classifier-free guidance), and seconds per image including the text encoder and the VAE decoder,
 * each of those timed on its own. Runs on a checkpoint, or on a random one it writes itself (full-size SD1.5 by
 * default) and deletes afterwards. {@code scripts/bench-generate-torch} runs the same workload in PyTorch and
 * prints the same JSON keys.
 */
public final class GenerateBench {
    private GenerateBench() {}

    /** The prompt every run encodes (its text changes nothing but the tokens; SD pads every prompt to 77 tokens). */
    public static final String PROMPT = "a photograph of an astronaut riding a horse";

    public record Config(SamplerKind sampler, int resolution, int steps, double cfgScale, int batch, DType dtype, int warmup, int reps, long seed) {
        public Config {
            if (warmup < 0) throw new IllegalArgumentException("warmup " + warmup + ": must be >= 0");
            if (reps < 1) throw new IllegalArgumentException("reps " + reps + ": must be at least 1");
            new GenerationRequest(PROMPT, "", sampler, steps, cfgScale, seed, resolution, resolution, batch, 1);   // its checks, before any work
        }

        GenerationRequest request() {
            return new GenerationRequest(PROMPT, "", sampler, steps, cfgScale, seed, resolution, resolution, batch, 1);
        }
    }

    /**
     * Medians over the timed reps. loadSeconds: the UNet's weights onto the device (the text encoder's and the VAE's
     * load on first use, in the warm-up); samplingSeconds: the sampler for the whole batch; secondsPerImage: text encoding,
     * sampling and decoding of a rep over its batch; deviceMemoryBytes: the most device memory the run held beyond
     * what was in use before the model loaded; finite: every latent and pixel of every rep was finite (after the
     * decoder's F32 fallback, which vaeDtype then shows).
     */
    public record Result(String model, String tokenizer, double loadSeconds, double textEncodeSeconds, double samplingSeconds,
                         double decodeSeconds, double secondsPerImage, long deviceMemoryBytes, boolean finite, DType vaeDtype) {
        public double itPerSecond(int steps) {
            return steps / samplingSeconds;
        }
    }

    /** Loads {@code model} and times {@code c.warmup()} untimed then {@code c.reps()} timed generations. */
    public static Result run(Path model, String modelLabel, ClipTokenizer tokenizer, String tokenizerLabel, Device device, Config c,
                             Consumer<String> log) throws IOException {
        long free0 = device.memoryInfo().free();
        try (Checkpoint ck = Checkpoint.open(model, null)) {
            long t0 = System.nanoTime();
            try (Generator g = new Generator(ck, device, c.dtype(), tokenizer, null, log)) {
                device.synchronize();
                double load = seconds(t0);
                GenerationRequest r = c.request();
                int perImage = g.architecture().unet().inChannels() * (r.height() / g.factor()) * (r.width() / g.factor());
                double[] encode = new double[c.reps()], sample = new double[c.reps()], decode = new double[c.reps()], total = new double[c.reps()];
                boolean finite = true;
                long used = 0;
                for (int i = -c.warmup(); i < c.reps(); i++) {
                    SeededNoise noise = new SeededNoise(r.seed(), r.batch(), perImage);
                    float[] initial = noise.initial();
                    long a = System.nanoTime();
                    float[] context = g.encodePrompts(r);
                    long b = System.nanoTime();
                    SampleResult latents = g.sample(r, context, initial, noise, false);
                    long d = System.nanoTime();
                    boolean ok = allFinite(latents.latents());
                    for (int k = 0; k < r.batch(); k++) {
                        float[] one = Arrays.copyOfRange(latents.latents(), k * perImage, (k + 1) * perImage);
                        ok &= allFinite(g.decoder().decodePixels(one, r.height(), r.width()));
                    }
                    long e = System.nanoTime();
                    used = Math.max(used, free0 - device.memoryInfo().free());
                    if (i < 0) continue;
                    finite &= ok;
                    encode[i] = (b - a) / 1e9;
                    sample[i] = (d - b) / 1e9;
                    decode[i] = (e - d) / 1e9;
                    total[i] = (e - a) / 1e9 / r.batch();
                }
                return new Result(modelLabel, tokenizerLabel, load, median(encode), median(sample), median(decode), median(total), used,
                        finite, g.decoder().dtype());
            }
        }
    }

    /** A new, empty folder under {@code workDir} for {@link #writeRandom}; delete it with {@link #deleteTree}. */
    public static Path newFolder(Path workDir) throws IOException {
        Files.createDirectories(workDir);
        return Files.createTempDirectory(workDir, "sumi-bench-generate-");
    }

    /**
     * Writes a random checkpoint of {@code arch} (F16, seed 0) into {@code dir}, with a tokenizer beside it: the tiny
     * model's own, or for a full-size model a small synthetic BPE (the text encoder's cost does not depend on the
     * vocabulary: every prompt is padded to 77 tokens). Returns the checkpoint's path.
     */
    public static Path writeRandom(RandomCheckpoint.Arch arch, Path dir) throws IOException {
        Path file = dir.resolve(arch.name().toLowerCase(Locale.ROOT) + ".safetensors");
        RandomCheckpoint.Plan plan = RandomCheckpoint.plan(arch, 0);
        RandomCheckpoint.write(plan, 0, StoredType.F16, file, false);
        if (plan.tokenizer() == null) TokenizerBuilder.write(TokenizerBuilder.tiny(RandomCheckpoint.TINY_MERGES), RandomCheckpoint.tokenizerDir(file));
        return file;
    }

    /** {@code tokenizer} when given, else the model's ({@link ClipTokenizer#locate}); the error names the option. */
    public static ClipTokenizer tokenizer(Path model, Path override) throws IOException {
        try {
            return ClipTokenizer.locate(model, override);
        } catch (ModelFormatException e) {
            throw new ModelFormatException(e.getMessage() + " (bench generate: --tokenizer DIR|bpe_simple_vocab_16e6.txt.gz)");
        }
    }

    public static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    /** The JSON object {@code scripts/bench-generate} compares (the torch script prints the same keys). */
    public static Map<String, Object> json(Result r, Config c, Device device) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("tool", "sumi");
        out.put("device", device.name());
        out.put("model", r.model());
        out.put("tokenizer", r.tokenizer());
        out.put("dtype", c.dtype().name());
        out.put("vae_dtype", r.vaeDtype().name());
        out.put("resolution", c.resolution());
        out.put("steps", c.steps());
        out.put("sampler", c.sampler().cliName());
        out.put("cfg_scale", c.cfgScale());
        out.put("batch", c.batch());
        out.put("warmup", c.warmup());
        out.put("reps", c.reps());
        out.put("load_seconds", r.loadSeconds());
        out.put("it_per_second", r.itPerSecond(c.steps()));
        out.put("seconds_per_image", r.secondsPerImage());
        out.put("sampling_seconds", r.samplingSeconds());
        out.put("text_encode_seconds", r.textEncodeSeconds());
        out.put("vae_decode_seconds", r.decodeSeconds());
        out.put("device_memory_bytes", r.deviceMemoryBytes());
        out.put("finite", r.finite());
        return out;
    }

    /** One line for people. */
    public static String describe(Result r, Config c, Device device) {
        return String.format(Locale.ROOT, "generate %s on %s, %s, %dx%d, %d steps %s, CFG %s, batch %d (median of %d after %d warm-up):%n"
                        + "  %.2f it/s; %.2f s per image (text encoder %.3f s, sampling %.2f s, VAE decode %.3f s%s); load %.1f s; "
                        + "device memory %s; image %s",
                r.model(), device.name(), c.dtype(), c.resolution(), c.resolution(), c.steps(), c.sampler().a1111Name(), fmt(c.cfgScale()),
                c.batch(), c.reps(), c.warmup(), r.itPerSecond(c.steps()), r.secondsPerImage(), r.textEncodeSeconds(), r.samplingSeconds(),
                r.decodeSeconds(), r.vaeDtype() == c.dtype() ? "" : " in " + r.vaeDtype(), r.loadSeconds(),
                dev.sumi.util.Bytes.human(r.deviceMemoryBytes()), r.finite() ? "finite" : "NOT FINITE");
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    private static double seconds(long since) {
        return (System.nanoTime() - since) / 1e9;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static boolean allFinite(float[] v) {
        for (float x : v) if (!Float.isFinite(x)) return false;
        return true;
    }
}
