package dev.sumi.plan;

import dev.sumi.device.PlanningDevice;
import dev.sumi.model.ModelArchitecture;
import dev.sumi.model.clip.TextEncoder;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.model.unet.UNet;
import dev.sumi.model.unet.UNetLayout;
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
 * {@link PlanningDevice}: the text encoder, UNet and VAE numbers are exactly what sumi allocates for
 * those shapes (each buffer rounded to 256 bytes as the devices do). The LoRA part is computed from the
 * kohya target modules (r * (in + out) parameters each; F32 weights, F32 gradients, two F32 AdamW
 * moments) and is marked inexact: it becomes exact when sumi's LoRA modules exist.
 *
 * <p>Two phases: latent caching (the VAE encoder over images, before training, freed after) and the
 * training step (text encoder, UNet and LoRA, all resident at once). The peak is the larger of the two.
 */
public record MemoryPlan(String family, DType dtype, int batch, int width, int height, int loraRank,
                         List<Phase> phases) {

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

    /** Plans {@code arch} for images of {@code width} x {@code height} pixels. */
    public static MemoryPlan of(ModelArchitecture arch, DType dtype, int batch, int width, int height, int loraRank) {
        if (arch.unet() == null || arch.vae() == null) throw new IllegalArgumentException(arch.family() + ": planning needs a UNet and a VAE");
        int f = arch.vae().downscale();
        if (width % f != 0 || height % f != 0) throw new IllegalArgumentException("resolution " + width + "x" + height + " is not a multiple of " + f);
        if (loraRank < 1) throw new IllegalArgumentException("LoRA rank must be positive, not " + loraRank);
        List<Phase> phases = new ArrayList<>();
        phases.add(training(arch, dtype, batch, width / f, height / f, loraRank));
        phases.add(latentCaching(arch, dtype, batch, width, height));
        return new MemoryPlan(arch.family(), dtype, batch, width, height, loraRank, List.copyOf(phases));
    }

    private static Phase training(ModelArchitecture arch, DType dtype, int batch, int latentW, int latentH, int rank) {
        Map<String, Long> gradients = new LinkedHashMap<>();   // "X activations & scratch" -> its F32 weight gradients
        List<AutoCloseable> built = new ArrayList<>();
        List<ParamSpec> loraTargets = new ArrayList<>();
        String note = null;
        try (PlanningDevice d = new PlanningDevice()) {
            int contextTokens = TextEncoder.TOKENS;
            int i = 0;
            for (ModelArchitecture.TextEncoder te : arch.textEncoders()) {
                String label = arch.textEncoders().size() > 1 ? "text encoder " + (++i) : "text encoder";
                Map<String, Tensor> params;
                try (var s = d.category(label + " weights")) {
                    params = weights(d, TextEncoderLayout.parameters(te.config()), dtype);
                }
                TextEncoder model;
                try (var s = d.category(label + ACTIVATIONS)) {
                    model = new TextEncoder(te.config(), params, d, dtype, batch);
                }
                built.add(model);
                gradients.put(label + ACTIVATIONS, bytes(model.gradients().values()));
                loraTargets.addAll(loraTargets(TextEncoderLayout.parameters(te.config()), false));
            }
            Map<String, Tensor> params;
            try (var s = d.category("UNet weights")) {
                params = weights(d, UNetLayout.parameters(arch.unet()), dtype);
            }
            UNet unet;
            try (var s = d.category("UNet" + ACTIVATIONS)) {
                unet = new UNet(arch.unet(), params, d, dtype, batch, latentH, latentW, contextTokens);
            }
            built.add(unet);
            gradients.put("UNet" + ACTIVATIONS, bytes(unet.gradients().values()));
            loraTargets.addAll(loraTargets(UNetLayout.parameters(arch.unet()), true));
            // the counted categories in first-use order; each network's F32 weight gradients (allocated by its
            // constructor among the activations) moved to a line of their own
            List<Part> counted = new ArrayList<>();
            for (var e : d.allocatedByCategory().entrySet()) {
                long g = gradients.getOrDefault(e.getKey(), 0L);
                counted.add(new Part(e.getKey(), e.getValue() - g, true));
                if (g > 0) counted.add(new Part(e.getKey().replace(ACTIVATIONS, " weight gradients (F32)"), g, true));
            }
            long lora = 0;
            for (ParamSpec t : loraTargets) {
                long out = t.shape()[0], in = t.numel() / out;
                lora += PlanningDevice.rounded(4L * rank * in) + PlanningDevice.rounded(4L * rank * out);
            }
            counted.add(new Part("LoRA weights (F32, rank " + rank + ", " + loraTargets.size() + " modules)", lora, false));
            counted.add(new Part("LoRA gradients (F32)", lora, false));
            counted.add(new Part("LoRA AdamW moments (2 x F32)", 2 * lora, false));
            long peak = d.peak() + 4 * lora;   // nothing is freed while planning a step: the peak is everything
            return new Phase(TRAINING, List.copyOf(counted), peak, note);
        } finally {
            closeAll(built);
        }
    }

    private static final String ACTIVATIONS = " activations & scratch";

    private static long bytes(Iterable<Tensor> tensors) {
        long n = 0;
        for (Tensor t : tensors) n += PlanningDevice.rounded(t.buffer().bytes());
        return n;
    }

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

    private static final List<String> UNET_TARGETS = List.of(".to_q.weight", ".to_k.weight", ".to_v.weight", ".to_out.0.weight",
            ".ff.net.0.proj.weight", ".ff.net.2.weight", ".proj_in.weight", ".proj_out.weight");
    private static final List<String> TE_TARGETS = List.of(".q_proj.weight", ".k_proj.weight", ".v_proj.weight", ".out_proj.weight",
            ".mlp.fc1.weight", ".mlp.fc2.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight");

    /**
     * The Linear (and 1x1-conv projection) weights kohya's LoRA adapts: in the UNet's transformers attention
     * q/k/v/out, the feed-forward and proj_in/out; in the text encoder attention q/k/v/out and the MLP.
     * OpenCLIP's stacked in_proj counts as its three parts.
     */
    static List<ParamSpec> loraTargets(List<ParamSpec> params, boolean unet) {
        List<ParamSpec> out = new ArrayList<>();
        for (ParamSpec p : params) {
            if (p.name().endsWith(".attn.in_proj_weight")) {
                long w = p.shape()[1];
                for (int k = 0; k < 3; k++) out.add(new ParamSpec(p.name() + "[" + k + "]", new long[] {w, w}, p.init()));
                continue;
            }
            for (String suffix : unet ? UNET_TARGETS : TE_TARGETS) {
                if (p.name().endsWith(suffix)) {
                    out.add(p);
                    break;
                }
            }
        }
        return out;
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
