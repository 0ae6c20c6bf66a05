package dev.sumi.model.clip;

/**
 * A CLIP text transformer as the SD families ship it, in one of two checkpoint layouts:
 * Hugging Face's CLIPTextModel (SD 1.x; SDXL's first encoder) or OpenCLIP's TextTransformer
 * (SD 2.x; SDXL's second encoder). Hugging Face config keys in the comments.
 *
 * @param layout        which checkpoint naming the weights use
 * @param vocabSize     token embedding rows (vocab_size)
 * @param width         hidden size (hidden_size)
 * @param layers        transformer layers stored in the file (num_hidden_layers)
 * @param heads         attention heads (num_attention_heads)
 * @param intermediate  MLP hidden size (intermediate_size)
 * @param maxPositions  positions, 77 for every SD family (max_position_embeddings)
 * @param quickGelu     quick_gelu (OpenAI CLIP-L) rather than exact gelu (OpenCLIP) (hidden_act)
 * @param projectionDim text_projection output width, 0 when the file has none (projection_dim)
 */
public record TextEncoderConfig(Layout layout, int vocabSize, int width, int layers, int heads, int intermediate,
                                int maxPositions, boolean quickGelu, int projectionDim) {

    public enum Layout { HF_CLIP, OPEN_CLIP }

    /** OpenAI CLIP ViT-L/14 text tower, SD 1.x's encoder and SDXL's first. */
    public static TextEncoderConfig clipL() {
        return new TextEncoderConfig(Layout.HF_CLIP, 49408, 768, 12, 12, 3072, 77, true, 0);
    }

    /** OpenCLIP ViT-H/14 text tower as SD 2.x stores it (all 24 layers; SD 2 uses the penultimate). */
    public static TextEncoderConfig openClipH() {
        return new TextEncoderConfig(Layout.OPEN_CLIP, 49408, 1024, 24, 16, 4096, 77, false, 1024);
    }

    /** OpenCLIP ViT-bigG/14 text tower, SDXL's second encoder. */
    public static TextEncoderConfig openClipBigG() {
        return new TextEncoderConfig(Layout.OPEN_CLIP, 49408, 1280, 32, 20, 5120, 77, false, 1280);
    }

    /** CLIP-L's layout at toy width, with a small vocabulary, for the embedded tiny model. */
    public static TextEncoderConfig tiny(int vocabSize) {
        return new TextEncoderConfig(Layout.HF_CLIP, vocabSize, 64, 2, 4, 256, 77, true, 0);
    }

    /** OpenCLIP's layout at toy width (exact gelu, a 64-wide projection), with a small vocabulary. */
    public static TextEncoderConfig tinyOpenClip(int vocabSize) {
        return new TextEncoderConfig(Layout.OPEN_CLIP, vocabSize, 64, 2, 4, 256, 77, false, 64);
    }

    public int headDim() {
        return width / heads;
    }
}
