package dev.sumi.model.clip;

import dev.sumi.device.Device;
import dev.sumi.model.Checkpoint;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.List;

/**
 * Captions longer than 75 tokens through the text encoder, as kohya's sd-scripts trains with
 * {@code --max_token_length} 150 or 225 (library/train_util.py get_input_ids / get_hidden_states,
 * library/strategy_sd.py in newer versions): each caption becomes n = maxTokenLength / 75 chunks of 77
 * ids, the encoder runs over all B n chunks as one batch, and the UNet's context is stitched from them.
 *
 * <pre>
 * B = captions, n = chunks (1, 2, 3), C = encoder width, K = 2 + 75 n context tokens (77, 152, 227)
 *
 * ids      (B n, 77)      I32, caption b's chunk c in row b n + c: [BOS, 75 ids, EOS or pad]
 * hidden   (B n, 77, C)   the encoder's output for every chunk (clip skip applied)
 * context  (B, K, C)      [hidden[b n, 0]  (the first chunk's BOS state),
 *                          hidden[b n + c, 1..75] for c = 0 .. n-1 (each chunk's middle states),
 *                          hidden[b n + n - 1, 76]  (the last chunk's final state)]
 * </pre>
 *
 * For n = 1 the context is exactly the encoder's (B, 77, C) output. The other chunks' BOS and final
 * rows are dropped, so the backward gives them zero gradient.
 *
 * <p>SD 1.x and SD 2.x differ only in the ids ({@link #tokenIds} with {@link #padToken}): kohya's v2 branch
 * of get_hidden_states also means to copy a chunk's second state over its first when the chunk is empty,
 * but its test compares a token id with the token's string ({@code input_ids[j, 1] == tokenizer.eos_token}),
 * which is never true, so the stitched context is the same as v1's; sumi reproduces that.
 *
 * <p>The row copies run on the device (slices of the encoder's output, no host round trip); everything is
 * allocated by the constructor, {@link #forward} and {@link #backward} only write.
 */
public final class LongPromptEncoder implements AutoCloseable {

    /** A run of whole rows copied between the chunks' hidden states and the context, in units of rows of C. */
    private record Span(long hiddenRow, long contextRow, long rows) {}

    private final TextEncoder encoder;   // batch B n
    private final int captions;          // B
    private final int chunks;            // n
    private final int width;             // C
    private final Span[] spans;          // B n spans: chunk c of caption b
    private final Tensor context;        // (B, K, C)
    private final Tensor dHidden;        // (B n, 77, C) backward scratch
    private Tensor hidden;               // (B n, 77, C) the encoder's output of the last forward, null before any

    /** The number of 77-token chunks of {@code maxTokenLength} (75, 150 or 225), with a one-line error otherwise. */
    public static int chunks(int maxTokenLength) {
        if (maxTokenLength != 75 && maxTokenLength != 150 && maxTokenLength != 225) {
            throw new IllegalArgumentException("max token length " + maxTokenLength + " is not 75, 150 or 225");
        }
        return maxTokenLength / ClipTokenizer.CHUNK_TOKENS;
    }

    /** Context tokens for {@code maxTokenLength}: BOS + the tokens + the final state, 77, 152 or 227. */
    public static int contextTokens(int maxTokenLength) {
        return 2 + ClipTokenizer.CHUNK_TOKENS * chunks(maxTokenLength);
    }

    /**
     * The pad token kohya's tokenizer uses for an encoder of {@code layout}: SD 1.x's CLIP-L (HF_CLIP) pads
     * with {@code <|endoftext|>}; SD 2.x's OpenCLIP tokenizer (stable-diffusion-2/tokenizer) pads with "!", id 0.
     */
    public static int padToken(ClipTokenizer tokenizer, TextEncoderConfig.Layout layout) {
        return layout == TextEncoderConfig.Layout.HF_CLIP ? tokenizer.eos : 0;
    }

    /** ids (B n, 77) of {@code captions} flattened row-major: kohya's chunks of each caption (ClipTokenizer.encodeChunks). */
    public static int[] tokenIds(ClipTokenizer tokenizer, List<String> captions, int maxTokenLength, int pad) {
        int n = chunks(maxTokenLength);
        int[] ids = new int[captions.size() * n * TextEncoder.TOKENS];
        for (int b = 0; b < captions.size(); b++) {
            int[][] chunk = tokenizer.encodeChunks(captions.get(b), maxTokenLength, pad);
            for (int c = 0; c < n; c++) System.arraycopy(chunk[c], 0, ids, (b * n + c) * TextEncoder.TOKENS, TextEncoder.TOKENS);
        }
        return ids;
    }

    /** Loads a text encoder for {@code captions} x chunks prompts (see {@link TextEncoder#load}) and wraps it. */
    public static LongPromptEncoder load(Checkpoint checkpoint, String prefix, TextEncoderConfig config, Device device, DType dtype,
                                         int captions, int maxTokenLength) {
        TextEncoder encoder = TextEncoder.load(checkpoint, prefix, config, device, dtype, Math.multiplyExact(captions, chunks(maxTokenLength)));
        try {
            return new LongPromptEncoder(encoder, device, dtype, maxTokenLength);
        } catch (RuntimeException e) {
            encoder.close();
            throw e;
        }
    }

    /**
     * Takes ownership of {@code encoder} (on {@code device}, activations in {@code dtype}), whose batch must be
     * B n: B captions of {@code maxTokenLength} tokens.
     */
    public LongPromptEncoder(TextEncoder encoder, Device device, DType dtype, int maxTokenLength) {
        this.chunks = chunks(maxTokenLength);
        if (encoder.batch() % chunks != 0) {
            throw new IllegalArgumentException("long prompt encoder: the text encoder's batch " + encoder.batch() + " is not a multiple of " + chunks + " chunks");
        }
        this.encoder = encoder;
        this.captions = encoder.batch() / chunks;
        this.width = encoder.config().width();
        long K = contextTokens(maxTokenLength), T = TextEncoder.TOKENS;
        this.spans = new Span[captions * chunks];
        for (int b = 0; b < captions; b++) {
            for (int c = 0; c < chunks; c++) {
                // chunk c's rows 1..75, plus row 0 (BOS) for the first chunk and row 76 for the last: the first
                // chunk's BOS and middle rows are adjacent in both tensors, as are the last chunk's middle and final rows
                long first = c == 0 ? 0 : 1, end = c == chunks - 1 ? T : T - 1;
                spans[b * chunks + c] = new Span((long) (b * chunks + c) * T + first, b * K + (c == 0 ? 0 : 1 + (long) ClipTokenizer.CHUNK_TOKENS * c), end - first);
            }
        }
        this.context = Tensor.allocate(device, dtype, captions, K, width);
        try {
            this.dHidden = Tensor.allocate(device, dtype, encoder.batch(), T, width);
        } catch (RuntimeException e) {
            context.close();
            throw e;
        }
    }

    /** The wrapped encoder (batch B n): its gradients, zeroGradients, config. */
    public TextEncoder encoder() {
        return encoder;
    }

    /** B, the captions per forward. */
    public int captions() {
        return captions;
    }

    public int chunks() {
        return chunks;
    }

    /**
     * context (B, K, C) for {@code ids} I32 (B n, 77) (from {@link #tokenIds}) with {@code clipSkip} as in
     * {@link TextEncoder#forward}. Returns this encoder's own context tensor, overwritten by the next call.
     */
    public Tensor forward(Tensor ids, int clipSkip) {
        hidden = encoder.forward(ids, clipSkip);
        if (hidden.dtype() != context.dtype() || hidden.device() != context.device()) {
            throw new IllegalStateException("long prompt encoder: the text encoder's output is " + hidden + ", the context " + context);
        }
        Device device = context.device();
        for (Span s : spans) device.copy(rows(hidden, s.hiddenRow, s.rows).buffer(), rows(context, s.contextRow, s.rows).buffer());
        return context;
    }

    /**
     * Backward of the last {@link #forward} for dContext (B, K, C): d loss / d hidden is dContext's rows where
     * the context took them and zero on the dropped BOS and final rows; then the encoder's backward, which
     * adds into {@code encoder().gradients()}.
     */
    public void backward(Tensor dContext) {
        if (hidden == null) throw new IllegalStateException("long prompt encoder: backward before forward");
        if (!dContext.shape().equals(context.shape()) || dContext.dtype() != context.dtype()) {
            throw new IllegalArgumentException("long prompt encoder: dContext must be " + context.dtype() + " " + context.shape() + ", not " + dContext);
        }
        Device device = dHidden.device();
        device.memset(dHidden.buffer(), (byte) 0);   // all-zero bytes are 0.0 in F32, F16 and BF16
        for (Span s : spans) device.copy(rows(dContext, s.contextRow, s.rows).buffer(), rows(dHidden, s.hiddenRow, s.rows).buffer());
        encoder.backward(dHidden);
    }

    /** Rows [row, row + count) of a (..., C) tensor as a view. */
    private Tensor rows(Tensor t, long row, long count) {
        return t.view(row * width, count, width);
    }

    @Override
    public void close() {
        encoder.close();
        context.close();
        dHidden.close();
    }
}
