package dev.sumi.sample;

import dev.sumi.data.RgbImage;
import dev.sumi.device.Device;
import dev.sumi.lora.Adapters;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.LdmComponent;
import dev.sumi.model.ModelArchitecture;
import dev.sumi.model.SharedWeights;
import dev.sumi.model.clip.ClipTokenizer;
import dev.sumi.model.clip.LongPromptEncoder;
import dev.sumi.model.clip.TextEncoder;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.model.unet.UNet;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNetLayout;
import dev.sumi.model.unet.UNetOptions;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.train.NoiseSchedule;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * Text to image on sumi's own networks, as diffusers' StableDiffusionPipeline does it: the prompts through the text
 * encoder (kohya's long-prompt chunks when a prompt needs more than 75 tokens), a {@link Sampler} over the UNet with
 * classifier-free guidance (unconditional and conditional rows in one batch, uncond first), then the VAE
 * ({@link ImageDecoder}).
 *
 * <p>LoRA: {@link #useAdapters} hands LoRA modules to the text encoder and UNet (the branch path the trainer uses;
 * the base weights are never changed), and {@link Adapters#FROZEN} gives the base model bit for bit. Networks are
 * built per shape and kept until the shape or the adapters change; the weights are loaded once ({@link SharedWeights},
 * or the UNet weights a trainer already holds).
 */
public final class Generator implements AutoCloseable {

    private final Checkpoint checkpoint;
    private final ModelArchitecture arch;
    private final Device device;
    private final DType dtype;
    private final ClipTokenizer tokenizer;
    private final Prediction prediction;
    private final NoiseSchedule schedule = NoiseSchedule.stableDiffusion();
    private final SharedWeights unetWeights;
    private final boolean ownsUnetWeights;
    private final ImageDecoder decoder;
    private final Consumer<String> log;
    private SharedWeights textWeights;            // loaded on first use
    private Adapters unetAdapters = Adapters.FROZEN, textAdapters = Adapters.FROZEN;

    // the networks of the last shape
    private UNet unet;
    private int unetRows, unetH, unetW, unetTokens;
    private Tensor unetLatents, unetTimesteps, unetContext;   // (R, C, h, w), F32 (R), (R, K, width)
    private LongPromptEncoder textEncoder;
    private Tensor textIds;                                   // I32 (R n, 77)
    private int textRows, textMaxTokens;

    /**
     * A generator for {@code checkpoint} on {@code device} with activations in {@code dtype}. {@code unetWeights}:
     * the UNet's weights already on the device in {@code dtype} (a trainer's), or null to load them. {@code log}
     * hears notices (a VAE precision fallback, a truncated prompt).
     */
    public Generator(Checkpoint checkpoint, Device device, DType dtype, ClipTokenizer tokenizer, SharedWeights unetWeights, Consumer<String> log) {
        this.checkpoint = checkpoint;
        this.arch = checkpoint.architecture();
        if (arch.unet() == null || arch.vae() == null || arch.textEncoders().isEmpty()) {
            throw new IllegalArgumentException(checkpoint.path() + ": needs a UNet, a VAE and a text encoder to generate images (found " + arch.family() + ")");
        }
        if (arch.lineage() == ModelArchitecture.Lineage.SDXL) throw new IllegalArgumentException(checkpoint.path() + ": SDXL generation is not supported yet");
        this.device = device;
        this.dtype = dtype;
        this.tokenizer = tokenizer;
        this.prediction = checkpoint.prediction().v() ? Prediction.V : Prediction.EPSILON;
        this.ownsUnetWeights = unetWeights == null;
        this.unetWeights = unetWeights != null ? unetWeights
                : SharedWeights.load(checkpoint, LdmComponent.UNET.prefix, UNetLayout.parameters(arch.unet()), device, dtype);
        this.decoder = new ImageDecoder(checkpoint, arch.vae(), device, dtype, log);
        this.log = log;
    }

    public ModelArchitecture architecture() {
        return arch;
    }

    public Device device() {
        return device;
    }

    public DType dtype() {
        return dtype;
    }

    public Prediction prediction() {
        return prediction;
    }

    public ImageDecoder decoder() {
        return decoder;
    }

    /**
     * The LoRA modules (or {@link Adapters#FROZEN}) the next images use; the caller keeps them alive. A change
     * rebuilds the networks on their next use.
     */
    public void useAdapters(Adapters unetAdapters, Adapters textAdapters) {
        if (unetAdapters != this.unetAdapters) closeUnet();
        if (textAdapters != this.textAdapters) closeTextEncoder();
        this.unetAdapters = unetAdapters;
        this.textAdapters = textAdapters;
    }

    /** An image and the seed it was drawn from. */
    public record Image(RgbImage image, long seed) {}

    /** The images of one request, and the sampling's time (text encoding and the VAE excluded). */
    public record Result(List<Image> images, double samplingSeconds) {
        /** Sampler steps per second, AUTOMATIC1111's it/s (one step of the whole batch). */
        public double stepsPerSecond(int steps) {
            return steps / samplingSeconds;
        }
    }

    /** Draws the request's images. */
    public Result generate(GenerationRequest r) {
        int perImage = arch.unet().inChannels() * (r.height() / factor()) * (r.width() / factor());
        SeededNoise noise = new SeededNoise(r.seed(), r.batch(), perImage);
        float[] initial = noise.initial();
        float[] context = encodePrompts(r);
        long start = System.nanoTime();
        SampleResult sampled = sample(r, context, initial, noise, false);
        double seconds = (System.nanoTime() - start) / 1e9;
        List<RgbImage> decoded = decoder.decode(sampled.latents(), r.batch(), r.height(), r.width());
        List<Image> images = new ArrayList<>();
        for (int i = 0; i < r.batch(); i++) images.add(new Image(decoded.get(i), r.seed() + i));
        return new Result(images, seconds);
    }

    /**
     * The sampler over the UNet from {@code initialNoise} (B*C*h*w, standard normal), with {@code stepNoise} for an
     * ancestral sampler; {@code recordSteps} keeps the latents after every step. The latents are the UNet's (scaled).
     */
    public SampleResult sample(GenerationRequest r, float[] initialNoise, StepNoise stepNoise, boolean recordSteps) {
        return sample(r, encodePrompts(r), initialNoise, stepNoise, recordSteps);
    }

    /**
     * The UNet context (R, K, width) of the request: the negative prompt's B rows first when guided, then the
     * prompt's B rows (the row order {@link #sample(GenerationRequest, float[], float[], StepNoise, boolean)} expects).
     */
    public float[] encodePrompts(GenerationRequest r) {
        List<String> texts = new ArrayList<>();
        if (r.guided()) for (int i = 0; i < r.batch(); i++) texts.add(r.negativePrompt());
        for (int i = 0; i < r.batch(); i++) texts.add(r.prompt());
        return encode(texts, r.clipSkip());
    }

    /** The sampler over the UNet with {@code context} from {@link #encodePrompts} (the text encoder is not run). */
    public SampleResult sample(GenerationRequest r, float[] context, float[] initialNoise, StepNoise stepNoise, boolean recordSteps) {
        int b = r.batch(), h = r.height() / factor(), w = r.width() / factor();
        int n = b * arch.unet().inChannels() * h * w;
        if (initialNoise.length != n) throw new IllegalArgumentException("initial noise: " + initialNoise.length + " values for " + n);
        boolean guided = r.guided();
        int rows = guided ? 2 * b : b, tokens = context.length / (rows * arch.unet().contextDim());
        if (context.length != (long) rows * tokens * arch.unet().contextDim() || tokens == 0) {
            throw new IllegalArgumentException("context: " + context.length + " values for " + rows + " rows of width " + arch.unet().contextDim());
        }
        prepareUnet(rows, h, w, tokens);
        unetContext.copyFrom(context);
        float[] timesteps = new float[rows];
        float[] batchIn = guided ? new float[2 * n] : null;                 // (2B, C, h, w) uncond rows then cond rows
        double cfg = r.cfgScale();
        Denoiser denoiser = (latents, t) -> {
            Arrays.fill(timesteps, (float) t);
            unetTimesteps.copyFrom(timesteps);
            if (!guided) {
                unetLatents.copyFrom(latents);
                return unet.forward(unetLatents, unetTimesteps, unetContext).toFloats();
            }
            System.arraycopy(latents, 0, batchIn, 0, n);
            System.arraycopy(latents, 0, batchIn, n, n);
            unetLatents.copyFrom(batchIn);
            float[] both = unet.forward(unetLatents, unetTimesteps, unetContext).toFloats();
            float[] guidedOut = new float[n];
            for (int i = 0; i < n; i++) guidedOut[i] = (float) (both[i] + cfg * (both[n + i] - both[i]));
            return guidedOut;
        };
        return r.sampler().create(schedule, prediction).sample(denoiser, initialNoise, r.steps(), r.sampler().ancestral() ? stepNoise : null, recordSteps);
    }

    /** Pixels per latent. */
    public int factor() {
        return arch.vae().downscale();
    }

    /**
     * The UNet context (R, K, width) of {@code texts}, host F32. K is 77 when every text fits 75 tokens, else kohya's
     * long-prompt context for 150 or 225 tokens (longer texts are cut at 225 tokens, with a notice).
     */
    public float[] encode(List<String> texts, int clipSkip) {
        TextEncoderConfig config = arch.textEncoders().getFirst().config();
        if (clipSkip > config.layers()) throw new IllegalArgumentException("clip skip " + clipSkip + ": the text encoder has only " + config.layers() + " layers");
        int longest = 0;
        for (String t : texts) longest = Math.max(longest, tokenizer.encode(t).length);
        if (longest > 3 * ClipTokenizer.CHUNK_TOKENS) log.accept("prompt of " + longest + " tokens: cut at 225 tokens");
        int maxTokens = ClipTokenizer.CHUNK_TOKENS * Math.clamp(Math.ceilDiv(longest, ClipTokenizer.CHUNK_TOKENS), 1, 3);
        int rows = texts.size();
        if (textEncoder == null || textRows != rows || textMaxTokens != maxTokens) {
            closeTextEncoder();
            if (textWeights == null) {
                textWeights = SharedWeights.load(checkpoint, arch.textEncoders().getFirst().component().prefix, TextEncoderLayout.parameters(config), device, dtype);
            }
            int chunks = LongPromptEncoder.chunks(maxTokens);
            textEncoder = new LongPromptEncoder(new TextEncoder(config, textWeights.lend(), device, dtype, rows * chunks, textAdapters), device, dtype, maxTokens);
            textIds = Tensor.allocate(device, DType.I32, (long) rows * chunks, TextEncoder.TOKENS);
            textRows = rows;
            textMaxTokens = maxTokens;
        }
        int[] ids = LongPromptEncoder.tokenIds(tokenizer, texts, maxTokens, LongPromptEncoder.padToken(tokenizer, config.layout()));
        device.copyToDevice(MemorySegment.ofArray(ids), textIds.buffer());
        return textEncoder.forward(textIds, clipSkip).toFloats();
    }

    private void prepareUnet(int rows, int h, int w, int tokens) {
        if (unet != null && unetRows == rows && unetH == h && unetW == w && unetTokens == tokens) return;
        closeUnet();
        UNetConfig config = arch.unet();
        // inference: the modules' internals share one region and no backward buffer exists, the least memory a forward can use
        unet = new UNet(config, unetWeights.lend(), device, dtype, rows, h, w, tokens, unetAdapters, UNetOptions.INFERENCE);
        unetLatents = Tensor.allocate(device, dtype, rows, config.inChannels(), h, w);
        unetTimesteps = Tensor.allocate(device, DType.F32, rows);
        unetContext = Tensor.allocate(device, dtype, rows, tokens, config.contextDim());
        unetRows = rows;
        unetH = h;
        unetW = w;
        unetTokens = tokens;
    }

    private void closeUnet() {
        for (AutoCloseable c : new AutoCloseable[] {unet, unetLatents, unetTimesteps, unetContext}) closeQuietly(c);
        unet = null;
        unetLatents = unetTimesteps = unetContext = null;
    }

    private void closeTextEncoder() {
        closeQuietly(textEncoder);
        closeQuietly(textIds);
        textEncoder = null;
        textIds = null;
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c == null) return;
        try {
            c.close();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        closeUnet();
        closeTextEncoder();
        decoder.close();
        if (textWeights != null) textWeights.close();
        if (ownsUnetWeights) unetWeights.close();
    }
}
