package dev.sumi.model;

/**
 * Where each network lives in a single-file (LDM / A1111) checkpoint: the key prefix of its
 * tensors. Modules inside sumi are named by the rest of the key.
 */
public enum LdmComponent {
    UNET("model.diffusion_model.", "UNet"),
    VAE("first_stage_model.", "VAE"),
    /** SD 1.x: Hugging Face CLIPTextModel (CLIP-L). */
    TEXT_ENCODER_CLIP("cond_stage_model.transformer.", "text encoder (CLIP-L)"),
    /** SD 2.x: OpenCLIP text tower (ViT-H). */
    TEXT_ENCODER_OPENCLIP("cond_stage_model.model.", "text encoder (OpenCLIP)"),
    /** SDXL: first encoder, Hugging Face CLIPTextModel (CLIP-L). */
    SDXL_TEXT_ENCODER_1("conditioner.embedders.0.transformer.", "text encoder 1 (CLIP-L)"),
    /** SDXL: second encoder, OpenCLIP text tower (ViT-bigG). */
    SDXL_TEXT_ENCODER_2("conditioner.embedders.1.model.", "text encoder 2 (OpenCLIP bigG)");

    public final String prefix;
    public final String description;

    LdmComponent(String prefix, String description) {
        this.prefix = prefix;
        this.description = description;
    }

    /** Prefix of an EMA copy of the UNet (ignored unless asked for). */
    public static final String EMA_PREFIX = "model_ema.";

    /** The component a full checkpoint key belongs to, or null (schedule buffers, EMA, unknown). */
    public static LdmComponent of(String key) {
        for (LdmComponent c : values()) if (key.startsWith(c.prefix)) return c;
        return null;
    }

    public boolean isTextEncoder() {
        return this != UNET && this != VAE;
    }
}
