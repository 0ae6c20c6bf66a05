package dev.sumi.model;

import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.vae.VaeConfig;

import java.util.List;

/**
 * What a checkpoint contains, derived from its tensor names and shapes.
 *
 * @param family       the standard family it matches ("SD 1.x", "SD 2.x", "SDXL base", with
 *                     " inpainting" where the UNet takes 9 channels), or "custom (...)" for other widths
 * @param lineage      the family whose conventions apply (conditioning, VAE scale, default heads)
 * @param unet         null when the file has no UNet
 * @param vae          null when the file has no VAE
 * @param textEncoders in conditioning order; empty when the file has none
 */
public record ModelArchitecture(String family, Lineage lineage, UNetConfig unet, VaeConfig vae,
                                List<TextEncoder> textEncoders) {

    public enum Lineage { SD1, SD2, SDXL }

    /** One text encoder and where its tensors live. */
    public record TextEncoder(LdmComponent component, TextEncoderConfig config) {}

    public ModelArchitecture {
        textEncoders = List.copyOf(textEncoders);
    }

    public boolean isStandard() {
        return !family.startsWith("custom");
    }
}
