package dev.sumi.plan;

import dev.sumi.device.PlanningDevice;
import dev.sumi.lora.Adapters;
import dev.sumi.lora.DeviceLora;
import dev.sumi.lora.LoraNetwork;
import dev.sumi.lora.LoraOptions;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.ModelArchitecture;
import dev.sumi.model.clip.TextEncoder;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.model.unet.UNet;
import dev.sumi.model.unet.UNetLayout;
import dev.sumi.model.unet.UNetOptions;
import dev.sumi.model.vae.Vae;
import dev.sumi.model.vae.VaeLayout;
import dev.sumi.nn.ParamSpec;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The device memory a LoRA training step needs, by part, found by building the real networks on a
 * {@link PlanningDevice}: the text encoder, UNet, VAE and LoRA numbers are exactly what sumi allocates for
 * those shapes (each buffer rounded to 256 bytes as the devices do). The networks are built as LoRA
 * training builds them: kohya's modules ({@link LoraNetwork}, dim and, for LoCon, conv dim) with F32
 * masters, activation-dtype copies and F32 gradients, the base frozen (no Linear weight gradients; each
 * adapted layer keeps its down projection's output for the backward). Only the optimizer's state is computed
 * (two F32 AdamW moments per LoRA parameter tensor), not allocated.
 *
 * <p>Two phases: latent caching (the VAE encoder over images, before training, freed after) and the
 * training step (text encoder, UNet and LoRA, all resident at once). The peak is the larger of the two.
 * With {@code gradientCheckpointing} the UNet is built as {@link UNetOptions#CHECKPOINTED} builds it (its modules'
 * internals in one shared region), so its activation line is what a checkpointed step allocates.
 */
public record MemoryPlan(String family, DType dtype, int batch, int width, int height, int loraRank, int loraConvDim,
                         boolean gradientCheckpointing, List<Phase> phases) {

    /** One line of the table. {@code exact}: counted on the planning device rather than computed. */
    public record Part(String category, long bytes, boolean exact) {}

    /** Parts resident at the same time and their sum (the phase's peak). */
    public record Phase(String name, List<Part> parts, long peak, String note) {}

    public long peak() {
        return phases.stream().mapToLong(Phase::peak).max().orElse(0);
    }

    public Phase phase(String name) {
        return phases.stream().filter(p -> p.name().equals(name)).findFirst().orElseThrow();
    }

    public static final String TRAINING = "training step";
    public static final String LATENT_CACHING = "latent caching (VAE encode, before training)";
    public static final String ADAMW_MOMENTS = "LoRA AdamW moments (2 x F32)";

    /** Plans {@code arch} for images of {@code width} x {@code height} pixels, LoRA of rank {@code loraRank} (no LoCon). */
    public static MemoryPlan of(ModelArchitecture arch, DType dtype, int batch, int width, int height, int loraRank) {
        if (loraRank < 1) throw new IllegalArgumentException("LoRA rank must be positive, not " + loraRank);
        return of(arch, dtype, batch, width, height, LoraOptions.of(loraRank, loraRank, 0));
    }

    /** Plans {@code arch} for images of {@code width} x {@code height} pixels and the LoRA network {@code lora}. */
    public static MemoryPlan of(ModelArchitecture arch, DType dtype, int batch, int width, int height, LoraOptions lora) {
        return of(arch, dtype, batch, width, height, lora, UNetOptions.DEFAULT);
    }

    /** As {@link #of(ModelArchitecture, DType, int, int, int, LoraOptions)}, the UNet built with {@code unet}. */
    public static MemoryPlan of(ModelArchitecture arch, DType dtype, int batch, int width, int height, LoraOptions lora, UNetOptions unet) {
        if (arch.unet() == null || arch.vae() == null) throw new IllegalArgumentException(arch.family() + ": planning needs a UNet and a VAE");
        int f = arch.vae().downscale();
        if (width % f != 0 || height % f != 0) throw new IllegalArgumentException("resolution " + width + "x" + height + " is not a multiple of " + f);
        List<Phase> phases = new ArrayList<>();
        phases.add(training(arch, dtype, batch, width / f, height / f, lora, unet));
        phases.add(latentCaching(arch, dtype, batch, width, height));
        return new MemoryPlan(arch.family(), dtype, batch, width, height, lora.dim(), lora.convDim(), unet.gradientCheckpointing(), List.copyOf(phases));
    }

    private static Phase training(ModelArchitecture arch, DType dtype, int batch, int latentW, int latentH, LoraOptions options, UNetOptions unet) {
        List<AutoCloseable> built = new ArrayList<>();
        String note = arch.textEncoders().size() > 1 ? "LoRA on the first text encoder only (the second is frozen)" : null;
        try (PlanningDevice d = new PlanningDevice()) {
            int contextTokens = TextEncoder.TOKENS;
            LoraNetwork network = LoraNetwork.create(options, arch.lineage(), arch.unet(), arch.textEncoders().getFirst().config());
            DeviceLora lora;
            try (var s = d.category("LoRA weights and gradients (F32, " + dtype + " copies; " + network.modules().size() + " modules)")) {
                lora = network.upload(d, dtype);
            }
            built.add(lora);
            int i = 0;
            for (ModelArchitecture.TextEncoder te : arch.textEncoders()) {
                String label = arch.textEncoders().size() > 1 ? "text encoder " + (++i) : "text encoder";
                Map<String, Tensor> params;
                try (var s = d.category(label + " weights")) {
                    params = weights(d, TextEncoderLayout.parameters(te.config()), dtype);
                }
                try (var s = d.category(label + ACTIVATIONS)) {
                    built.add(new TextEncoder(te.config(), params, d, dtype, batch, te == arch.textEncoders().getFirst()
                            ? lora.adapters(Component.TEXT_ENCODER) : Adapters.FROZEN));
                }
            }
            Map<String, Tensor> params;
            try (var s = d.category("UNet weights")) {
                params = weights(d, UNetLayout.parameters(arch.unet()), dtype);
            }
            try (var s = d.category("UNet" + ACTIVATIONS)) {
                built.add(new UNet(arch.unet(), params, d, dtype, batch, latentH, latentW, contextTokens, lora.adapters(Component.UNET), unet));
            }
            List<Part> counted = new ArrayList<>();
            d.allocatedByCategory().forEach((k, v) -> counted.add(new Part(k, v, true)));
            long moments = 0;
            for (Tensor t : lora.parameters()) moments += 2 * PlanningDevice.rounded(t.buffer().bytes());
            counted.add(new Part(ADAMW_MOMENTS, moments, false));
            long peak = d.peak() + moments;   // nothing is freed while planning a step: the peak is everything
            return new Phase(TRAINING, List.copyOf(counted), peak, note);
        } finally {
            closeAll(built);
        }
    }

    private static final String ACTIVATIONS = " activations & scratch";

    private static Phase latentCaching(ModelArchitecture arch, DType dtype, int batch, int width, int height) {
        Vae vae = null;
        try (PlanningDevice d = new PlanningDevice()) {
            Map<String, Tensor> params;
            try (var s = d.category("VAE weights")) {
                params = weights(d, VaeLayout.parameters(arch.vae()), dtype);
            }
            try (var s = d.category("VAE" + ACTIVATIONS)) {
                vae = new Vae(arch.vae(), params, d, dtype, batch, height, width);
            }
            List<Part> parts = new ArrayList<>();
            d.allocatedByCategory().forEach((k, v) -> parts.add(new Part(k, v, true)));
            return new Phase(LATENT_CACHING, List.copyOf(parts), d.peak(), null);
        } finally {
            if (vae != null) vae.close();
        }
    }

    /** A tensor per parameter, as WeightLoader allocates it (the layout's shape in {@code dtype}); copies are free. */
    private static Map<String, Tensor> weights(PlanningDevice d, List<ParamSpec> specs, DType dtype) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (ParamSpec p : specs) m.put(p.name(), Tensor.allocate(d, dtype, p.shape()));
        return m;
    }

    private static void closeAll(List<AutoCloseable> list) {
        for (AutoCloseable c : list) {
            try {
                c.close();
            } catch (Exception ignored) {
                // planning buffers: nothing to release
            }
        }
    }
}
