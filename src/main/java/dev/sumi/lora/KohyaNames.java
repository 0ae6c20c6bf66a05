package dev.sumi.lora;

import dev.sumi.model.KeyMap;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNetLayout;
import dev.sumi.nn.ParamSpec;

import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The module names kohya-format LoRA files use: {@code lora_unet_} / {@code lora_te_} (SDXL:
 * {@code lora_te1_}, {@code lora_te2_}) followed by the diffusers module path with dots as
 * underscores, e.g. {@code lora_unet_down_blocks_0_attentions_0_proj_in}. This is the one place that
 * maps to kohya names; everything else in sumi speaks LDM keys.
 */
public final class KohyaNames {
    private KohyaNames() {}

    private static final Map<Lineage, Set<String>> MODULES = new EnumMap<>(Lineage.class);

    /** Every module name a kohya LoRA for a standard model of this lineage may address. */
    public static synchronized Set<String> modules(Lineage lineage) {
        return MODULES.computeIfAbsent(lineage, KohyaNames::build);
    }

    private static Set<String> build(Lineage lineage) {
        Set<String> names = new HashSet<>();
        UNetConfig unet = switch (lineage) {
            case SD1 -> UNetConfig.sd1();
            case SD2 -> UNetConfig.sd2();
            case SDXL -> UNetConfig.sdxl();
        };
        add(names, lineage, Component.UNET, UNetLayout.parameters(unet), "lora_unet_");
        switch (lineage) {
            case SD1 -> add(names, lineage, Component.TEXT_ENCODER, TextEncoderLayout.parameters(TextEncoderConfig.clipL()), "lora_te_");
            case SD2 -> add(names, lineage, Component.TEXT_ENCODER, TextEncoderLayout.parameters(TextEncoderConfig.openClipH()), "lora_te_");
            case SDXL -> {
                add(names, lineage, Component.TEXT_ENCODER, TextEncoderLayout.parameters(TextEncoderConfig.clipL()), "lora_te1_");
                add(names, lineage, Component.TEXT_ENCODER_2, TextEncoderLayout.parameters(TextEncoderConfig.openClipBigG()), "lora_te2_");
            }
        }
        return Set.copyOf(names);
    }

    /**
     * The kohya module name of the LDM weight {@code ldmWeight} (relative to the component's prefix, ending in
     * {@code .weight} or OpenCLIP's {@code in_proj_weight}); {@code part} picks q, k or v (0, 1, 2) of a fused
     * projection, 0 otherwise.
     */
    public static String moduleName(Lineage lineage, Component c, String ldmWeight, int part) {
        String d = KeyMap.toDiffusersAll(lineage, c, KeyMap.prefix(lineage, c) + ldmWeight).get(part);
        if (!d.endsWith(".weight")) throw new IllegalArgumentException("lora: " + ldmWeight + " is not a weight");
        return prefix(lineage, c) + d.substring(0, d.length() - ".weight".length()).replace('.', '_');
    }

    private static String prefix(Lineage lineage, Component c) {
        return switch (c) {
            case UNET -> "lora_unet_";
            case TEXT_ENCODER -> lineage == Lineage.SDXL ? "lora_te1_" : "lora_te_";
            case TEXT_ENCODER_2 -> "lora_te2_";
            case VAE -> throw new IllegalArgumentException("lora: the VAE has no LoRA modules");
        };
    }

    private static void add(Set<String> names, Lineage lineage, Component c, List<ParamSpec> params, String prefix) {
        String ldmPrefix = KeyMap.prefix(lineage, c);
        for (ParamSpec p : params) {
            String ldm = ldmPrefix + p.name();
            if (KeyMap.isUnused(lineage, c, ldm)) continue;
            for (String d : KeyMap.toDiffusersAll(lineage, c, ldm)) {
                if (!d.endsWith(".weight")) continue;
                names.add(prefix + d.substring(0, d.length() - ".weight".length()).replace('.', '_'));
            }
        }
    }
}
