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

    /**
     * The kohya module name of a UNet weight for any {@link UNetConfig} (the tiny model's too, where
     * KeyMap's SD tables do not apply): diffusers' block path from the LDM slot numbering
     * (input_blocks.n: level (n-1) / (resBlocks+1), then resnets/attentions i or the downsampler;
     * output_blocks.n: up level n / (resBlocks+1), resnets/attentions n % (resBlocks+1), the upsampler last)
     * and diffusers' ResnetBlock2D child names (conv1, time_emb_proj, conv2, conv_shortcut).
     */
    public static String unetModuleName(UNetConfig c, String ldmWeight) {
        if (!ldmWeight.endsWith(".weight")) throw new IllegalArgumentException("lora: " + ldmWeight + " is not a weight");
        String[] p = ldmWeight.substring(0, ldmWeight.length() - ".weight".length()).split("\\.", 4);
        int per = c.numResBlocks() + 1;
        String block, rest = p.length > 3 ? p[3] : "";
        if (p[0].equals("middle_block")) {
            int slot = Integer.parseInt(p[1]);
            rest = p.length > 2 ? p[2] + (p.length > 3 ? "." + p[3] : "") : "";
            block = slot == 1 ? "mid_block.attentions.0" : "mid_block.resnets." + slot / 2;
            return "lora_unet_" + (block + "." + inner(slot == 1, rest)).replace('.', '_');
        }
        int n = Integer.parseInt(p[1]), slot = Integer.parseInt(p[2]);
        if (p[0].equals("input_blocks") && n > 0) {
            int level = (n - 1) / per, i = (n - 1) % per;
            if (i == c.numResBlocks()) block = "down_blocks." + level + ".downsamplers.0.conv";
            else block = "down_blocks." + level + (slot == 0 ? ".resnets." : ".attentions.") + i + "." + inner(slot == 1, rest);
        } else if (p[0].equals("output_blocks")) {
            int level = n / per, i = n % per;
            boolean attention = c.transformerDepth()[c.levels() - 1 - level] > 0;
            if (slot == 0) block = "up_blocks." + level + ".resnets." + i + "." + inner(false, rest);
            else if (slot == 1 && attention) block = "up_blocks." + level + ".attentions." + i + "." + inner(true, rest);
            else block = "up_blocks." + level + ".upsamplers.0.conv";
        } else {
            throw new IllegalArgumentException("lora: " + ldmWeight + " is in no UNet block a LoRA adapts");
        }
        return "lora_unet_" + block.replace('.', '_');
    }

    /** A block's child path in diffusers: transformer children keep their names, ResBlock children are renamed. */
    private static String inner(boolean transformer, String rest) {
        if (transformer) return rest;
        return switch (rest) {
            case "in_layers.2" -> "conv1";
            case "out_layers.3" -> "conv2";
            case "emb_layers.1" -> "time_emb_proj";
            case "skip_connection" -> "conv_shortcut";
            default -> throw new IllegalArgumentException("lora: ResBlock child " + rest + " has no diffusers name");
        };
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
