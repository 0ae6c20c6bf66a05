package dev.sumi.train;

import dev.sumi.device.Device;
import dev.sumi.lora.Adapters;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.SharedWeights;
import dev.sumi.model.clip.ClipTokenizer;
import dev.sumi.model.clip.LongPromptEncoder;
import dev.sumi.model.clip.TextEncoder;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The UNet's context (B, K, C) for a batch of captions, K = 2 + 75 n tokens (kohya's max_token_length chunks,
 * {@link LongPromptEncoder}). Two ways, as kohya:
 * <ul>
 *   <li><b>cached</b> (text encoder frozen, captions fixed): every distinct caption is encoded once before training
 *       and kept on the host; a step uploads its rows. The encoder's weights are freed before the first step.</li>
 *   <li><b>live</b> (text encoder trained, or captions shuffled per step): the encoder runs every step, with the
 *       LoRA adapters of its component when it is trained; {@link #backward} carries d context into them.</li>
 * </ul>
 * Encoders exist per batch size (the last batch of a bucket may be smaller), sharing one copy of the weights.
 */
final class TextConditioning implements AutoCloseable {
    private final ClipTokenizer tokenizer;
    private final int pad, maxTokenLength, clipSkip, tokens, width;
    private final Device device;
    private final DType dtype;
    // cached
    private final Map<String, float[]> cache;                  // caption -> (K, C)
    private final Map<Integer, Tensor> staging = new HashMap<>(); // batch -> (B, K, C)
    // live
    private final TextEncoderConfig config;
    private final SharedWeights weights;
    private final Adapters adapters;
    private final Map<Integer, LongPromptEncoder> encoders = new HashMap<>();
    private final Map<Integer, Tensor> ids = new HashMap<>();  // batch -> I32 (B n, 77)
    private LongPromptEncoder last;

    private TextConditioning(ClipTokenizer tokenizer, TextEncoderConfig config, int maxTokenLength, int clipSkip, Device device, DType dtype,
                             Map<String, float[]> cache, SharedWeights weights, Adapters adapters) {
        this.tokenizer = tokenizer;
        this.config = config;
        this.pad = LongPromptEncoder.padToken(tokenizer, config.layout());
        this.maxTokenLength = maxTokenLength;
        this.clipSkip = clipSkip;
        this.tokens = LongPromptEncoder.contextTokens(maxTokenLength);
        this.width = config.width();
        this.device = device;
        this.dtype = dtype;
        this.cache = cache;
        this.weights = weights;
        this.adapters = adapters;
    }

    /** Encodes every distinct caption once with the frozen encoder and keeps the contexts on the host. */
    static TextConditioning cached(Checkpoint checkpoint, String prefix, TextEncoderConfig config, ClipTokenizer tokenizer,
                                   List<String> captions, int maxTokenLength, int clipSkip, Device device, DType dtype) {
        Map<String, float[]> cache = new LinkedHashMap<>();
        TextConditioning t = new TextConditioning(tokenizer, config, maxTokenLength, clipSkip, device, dtype, cache, null, Adapters.FROZEN);
        try (SharedWeights w = SharedWeights.load(checkpoint, prefix, TextEncoderLayout.parameters(config), device, dtype);
             LongPromptEncoder encoder = new LongPromptEncoder(new TextEncoder(config, w.lend(), device, dtype, LongPromptEncoder.chunks(maxTokenLength), Adapters.FROZEN),
                     device, dtype, maxTokenLength);
             Tensor idTensor = Tensor.allocate(device, DType.I32, LongPromptEncoder.chunks(maxTokenLength), TextEncoder.TOKENS)) {
            for (String caption : captions) {
                if (cache.containsKey(caption)) continue;
                t.upload(idTensor, List.of(caption));
                cache.put(caption, encoder.forward(idTensor, clipSkip).toFloats());
            }
        }
        return t;
    }

    /** Runs the encoder every step; {@code adapters} are its LoRA modules when it is trained, else {@link Adapters#FROZEN}. */
    static TextConditioning live(Checkpoint checkpoint, String prefix, TextEncoderConfig config, ClipTokenizer tokenizer,
                                 int maxTokenLength, int clipSkip, Device device, DType dtype, Adapters adapters) {
        SharedWeights w = SharedWeights.load(checkpoint, prefix, TextEncoderLayout.parameters(config), device, dtype);
        return new TextConditioning(tokenizer, config, maxTokenLength, clipSkip, device, dtype, null, w, adapters);
    }

    int tokens() {
        return tokens;
    }

    /** context (B, K, C) for the batch's captions, in the training dtype; the tensor is overwritten by the next call. */
    Tensor context(List<String> captions) {
        int b = captions.size();
        if (cache != null) {
            Tensor out = staging.computeIfAbsent(b, n -> Tensor.allocate(device, dtype, n, tokens, width));
            float[] rows = new float[b * tokens * width];
            for (int i = 0; i < b; i++) {
                float[] c = cache.get(captions.get(i));
                if (c == null) throw new IllegalStateException("text: caption not cached: " + captions.get(i));
                System.arraycopy(c, 0, rows, i * tokens * width, tokens * width);
            }
            out.copyFrom(rows);
            return out;
        }
        LongPromptEncoder encoder = encoders.computeIfAbsent(b, n -> new LongPromptEncoder(
                new TextEncoder(config, weights.lend(), device, dtype, n * LongPromptEncoder.chunks(maxTokenLength), adapters), device, dtype, maxTokenLength));
        Tensor idTensor = ids.computeIfAbsent(b, n -> Tensor.allocate(device, DType.I32, (long) n * LongPromptEncoder.chunks(maxTokenLength), TextEncoder.TOKENS));
        upload(idTensor, captions);
        last = encoder;
        return encoder.forward(idTensor, clipSkip);
    }

    /** d loss / d context of the last {@link #context} into the encoder's LoRA gradients (live, trained encoder only). */
    void backward(Tensor dContext) {
        if (last == null) throw new IllegalStateException("text: backward without a live forward");
        last.backward(dContext);
    }

    private void upload(Tensor idTensor, List<String> captions) {
        int[] tokenIds = LongPromptEncoder.tokenIds(tokenizer, captions, maxTokenLength, pad);
        device.copyToDevice(MemorySegment.ofArray(tokenIds), idTensor.buffer());
    }

    @Override
    public void close() {
        encoders.values().forEach(LongPromptEncoder::close);
        ids.values().forEach(Tensor::close);
        staging.values().forEach(Tensor::close);
        if (weights != null) weights.close();
    }
}
