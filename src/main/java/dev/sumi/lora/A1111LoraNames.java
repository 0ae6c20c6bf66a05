package dev.sumi.lora;

import dev.sumi.model.LdmComponent;
import dev.sumi.model.ModelArchitecture;
import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNetLayout;
import dev.sumi.nn.ParamSpec;

import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which module of a base model a kohya LoRA module name addresses, by the rules AUTOMATIC1111's built-in Lora
 * extension uses ({@code extensions-builtin/Lora/networks.py}, v1.10):
 * <ol>
 *   <li>the model's modules are named by their {@code named_modules()} path with '.' as '_'
 *       ({@code assign_network_names_to_compvis_modules}): the UNet under {@code sd_model.model}
 *       ({@code diffusion_model_input_blocks_1_1_proj_in}), SD 1.x/2.x's text encoder under
 *       {@code cond_stage_model.wrapped} ({@code transformer_text_model_...}, {@code model_transformer_resblocks_...}),
 *       SDXL's under {@code conditioner.embedders} with the embedder index first ({@code 0_transformer_...},
 *       {@code 1_model_transformer_...});</li>
 *   <li>{@code convert_diffusers_name_to_compvis} rewrites diffusers-style kohya names to those
 *       (the regexes of {@link #convertDiffusersNameToCompvis}); names it does not know pass unchanged;</li>
 *   <li>lookup; failing that, a name ending in {@code _q_proj/_k_proj/_v_proj} addresses the
 *       MultiheadAttention it belongs to ({@code re_x_proj}: OpenCLIP's fused in_proj); failing that,
 *       {@code lora_unet} is replaced by {@code diffusion_model} (SDXL LoRAs that use LDM names), or
 *       {@code lora_te1_text_model} by {@code 0_transformer_text_model} and then {@code transformer_text_model}.</li>
 * </ol>
 * The module table is built from sumi's layouts of the architecture (the same parameter lists the loaders check
 * checkpoints against), so this answers for the exact model a LoRA is trained on or applied to.
 */
public final class A1111LoraNames {
    private A1111LoraNames() {}

    /** What a LoRA can adapt: A1111's network_lora accepts Linear, Conv2d and MultiheadAttention modules. */
    public enum Kind { LINEAR, CONV, MULTIHEAD_ATTENTION, OTHER }

    /**
     * A module of the base model.
     *
     * @param ldmKey      the module's LDM checkpoint key without {@code .weight}, e.g. {@code model.diffusion_model.input_blocks.1.1.proj_in}
     * @param weightShape Linear [out, in], Conv2d [out, in, k, k], MultiheadAttention in_proj [3C, C], other: its weight's shape
     */
    public record Module(String ldmKey, Kind kind, long[] weightShape) {
        public Module {
            weightShape = weightShape.clone();
        }

        @Override
        public long[] weightShape() {
            return weightShape.clone();
        }
    }

    /**
     * Where a kohya name lands.
     *
     * @param a1111Key the name A1111 files the module under (its {@code matched_networks} key)
     * @param module   the base module
     * @param qkvPart  0, 1, 2 for the q, k, v row block of a MultiheadAttention's in_proj; -1 otherwise
     */
    public record Target(String a1111Key, Module module, int qkvPart) {
        /** The weight the LoRA's up x down product must match: [out, in] or [out, in, k, k]. */
        public long[] adaptedShape() {
            long[] w = module.weightShape();
            if (qkvPart >= 0) return new long[] {w[0] / 3, w[1]};
            return w;
        }

        /** The LDM key of the adapted weight, with the q/k/v part for a fused in_proj. */
        public String ldmWeight() {
            if (qkvPart >= 0) return module.ldmKey() + ".in_proj_weight[" + "qkv".charAt(qkvPart) + "]";
            return module.ldmKey() + ".weight";
        }
    }

    /** The modules of one base model by A1111 name ({@code network_layer_mapping}), and whether it counts as SD 2. */
    public record Modules(String family, Map<String, Module> byA1111Name, boolean isSd2) {
        public Modules {
            byA1111Name = Map.copyOf(byA1111Name);
        }
    }

    private static final Map<Lineage, Modules> STANDARD = new HashMap<>();

    /** The modules of a standard SD 1.x / 2.x / SDXL model (the configs {@link KohyaNames} uses too). */
    public static synchronized Modules standard(Lineage lineage) {
        return STANDARD.computeIfAbsent(lineage, l -> of(switch (l) {
            case SD1 -> new ModelArchitecture("SD 1.x", l, UNetConfig.sd1(), null,
                    List.of(new ModelArchitecture.TextEncoder(LdmComponent.TEXT_ENCODER_CLIP, TextEncoderConfig.clipL())));
            case SD2 -> new ModelArchitecture("SD 2.x", l, UNetConfig.sd2(), null,
                    List.of(new ModelArchitecture.TextEncoder(LdmComponent.TEXT_ENCODER_OPENCLIP, TextEncoderConfig.openClipH())));
            case SDXL -> new ModelArchitecture("SDXL base", l, UNetConfig.sdxl(), null,
                    List.of(new ModelArchitecture.TextEncoder(LdmComponent.SDXL_TEXT_ENCODER_1, TextEncoderConfig.clipL()),
                            new ModelArchitecture.TextEncoder(LdmComponent.SDXL_TEXT_ENCODER_2, TextEncoderConfig.openClipBigG())));
        }));
    }

    /** The module table of an architecture: its UNet and text encoders (a LoRA never adapts the VAE). */
    public static Modules of(ModelArchitecture a) {
        Map<String, Module> table = new HashMap<>();
        if (a.unet() != null) add(table, LdmComponent.UNET, UNetLayout.parameters(a.unet()));
        if (a.unet() != null && !a.isStandard()) addCustomUNetNames(table, a.unet());
        boolean sd2 = false;
        for (ModelArchitecture.TextEncoder t : a.textEncoders()) {
            add(table, t.component(), TextEncoderLayout.parameters(t.config()));
            sd2 |= t.component() == LdmComponent.TEXT_ENCODER_OPENCLIP;
        }
        return new Modules(a.family(), table, sd2);
    }

    /**
     * A custom UNet topology (sumi's tiny model, a pruned model) has no AUTOMATIC1111 counterpart: A1111's regexes
     * assume SD's two ResBlocks per level and would send its modules to the wrong blocks. Its modules are also
     * registered under the names those regexes give sumi's own kohya names ({@link KohyaNames#unetModuleName}), so
     * a file trained on it is still checked module by module (shapes, values); standard models use A1111's rules only.
     */
    private static void addCustomUNetNames(Map<String, Module> table, UNetConfig unet) {
        for (ParamSpec p : UNetLayout.parameters(unet)) {
            String name = p.name();
            long[] shape = p.shape();
            if (!name.endsWith(".weight") || shape.length < 2) continue;
            if (!name.startsWith("input_blocks.") && !name.startsWith("middle_block.") && !name.startsWith("output_blocks.")) continue;   // what LoRA adapts
            String module = LdmComponent.UNET.prefix + name.substring(0, name.length() - ".weight".length());
            Module m = new Module(module, shape.length == 2 ? Kind.LINEAR : Kind.CONV, shape);
            String kohya;
            try {
                kohya = KohyaNames.unetModuleName(unet, name);
            } catch (IllegalArgumentException notAdapted) {   // conv_in and the like: no LoRA module has this name
                continue;
            }
            String a1111 = convertDiffusersNameToCompvis(kohya, false);
            table.put(a1111, m);
        }
    }

    /** The part of the LDM key that is not in A1111's {@code named_modules()} paths (the model object it walks). */
    private static String root(LdmComponent c) {
        return switch (c) {
            case UNET -> "model.";
            case TEXT_ENCODER_CLIP, TEXT_ENCODER_OPENCLIP -> "cond_stage_model.";
            case SDXL_TEXT_ENCODER_1, SDXL_TEXT_ENCODER_2 -> "conditioner.embedders.";
            case VAE -> throw new IllegalArgumentException("a LoRA does not adapt the VAE");
        };
    }

    private static void add(Map<String, Module> table, LdmComponent c, List<ParamSpec> params) {
        String root = root(c);
        for (ParamSpec p : params) {
            String key = c.prefix + p.name();
            String module;
            Kind kind;
            long[] shape = p.shape();
            if (key.endsWith(".in_proj_weight")) {
                module = key.substring(0, key.length() - ".in_proj_weight".length());
                kind = Kind.MULTIHEAD_ATTENTION;
            } else if (key.endsWith(".weight")) {
                module = key.substring(0, key.length() - ".weight".length());
                kind = shape.length == 2 ? Kind.LINEAR : shape.length == 4 ? Kind.CONV : Kind.OTHER;
            } else {
                continue;
            }
            table.put(module.substring(root.length()).replace('.', '_'), new Module(module, kind, shape));
        }
    }

    // ---- convert_diffusers_name_to_compvis ------------------------------------------------------------------------

    private static final Pattern CONV_IN = Pattern.compile("lora_unet_conv_in(.*)");
    private static final Pattern CONV_OUT = Pattern.compile("lora_unet_conv_out(.*)");
    private static final Pattern TIME_EMBEDDING = Pattern.compile("lora_unet_time_embedding_linear_(\\d+)(.*)");
    private static final Pattern DOWN = Pattern.compile("lora_unet_down_blocks_(\\d+)_(attentions|resnets)_(\\d+)_(.+)");
    private static final Pattern MID = Pattern.compile("lora_unet_mid_block_(attentions|resnets)_(\\d+)_(.+)");
    private static final Pattern UP = Pattern.compile("lora_unet_up_blocks_(\\d+)_(attentions|resnets)_(\\d+)_(.+)");
    private static final Pattern DOWNSAMPLER = Pattern.compile("lora_unet_down_blocks_(\\d+)_downsamplers_0_conv");
    private static final Pattern UPSAMPLER = Pattern.compile("lora_unet_up_blocks_(\\d+)_upsamplers_0_conv");
    private static final Pattern TE = Pattern.compile("lora_te_text_model_encoder_layers_(\\d+)_(.+)");
    private static final Pattern TE2 = Pattern.compile("lora_te2_text_model_encoder_layers_(\\d+)_(.+)");
    private static final Pattern X_PROJ = Pattern.compile("(.*)_([qkv]_proj)$");

    /** networks.py {@code suffix_conversion["resnets"]}: diffusers ResnetBlock2D children to LDM ResBlock slots. */
    private static final Map<String, String> RESNET_SUFFIX = Map.of(
            "conv1", "in_layers_2", "conv2", "out_layers_3", "norm1", "in_layers_0", "norm2", "out_layers_0",
            "time_emb_proj", "emb_layers_1", "conv_shortcut", "skip_connection");

    /** A1111's regex rewrite of a diffusers-style kohya module name; other names come back unchanged. */
    public static String convertDiffusersNameToCompvis(String key, boolean isSd2) {
        Matcher m;
        // re.match anchors at the start only: lookingAt, not matches
        if ((m = CONV_IN.matcher(key)).lookingAt()) return "diffusion_model_input_blocks_0_0" + m.group(1);
        if ((m = CONV_OUT.matcher(key)).lookingAt()) return "diffusion_model_out_2" + m.group(1);
        if ((m = TIME_EMBEDDING.matcher(key)).lookingAt()) return "diffusion_model_time_embed_" + (num(m, 1) * 2 - 2) + m.group(2);
        if ((m = DOWN.matcher(key)).lookingAt()) {
            return "diffusion_model_input_blocks_" + (1 + num(m, 1) * 3 + num(m, 3)) + "_" + (attentions(m.group(2)) ? 1 : 0) + "_" + suffix(m.group(2), m.group(4));
        }
        if ((m = MID.matcher(key)).lookingAt()) {
            return "diffusion_model_middle_block_" + (attentions(m.group(1)) ? 1 : num(m, 2) * 2) + "_" + suffix(m.group(1), m.group(3));
        }
        if ((m = UP.matcher(key)).lookingAt()) {
            return "diffusion_model_output_blocks_" + (num(m, 1) * 3 + num(m, 3)) + "_" + (attentions(m.group(2)) ? 1 : 0) + "_" + suffix(m.group(2), m.group(4));
        }
        if ((m = DOWNSAMPLER.matcher(key)).lookingAt()) return "diffusion_model_input_blocks_" + (3 + num(m, 1) * 3) + "_0_op";
        if ((m = UPSAMPLER.matcher(key)).lookingAt()) {
            int block = num(m, 1);
            return "diffusion_model_output_blocks_" + (2 + block * 3) + "_" + (block > 0 ? 2 : 1) + "_conv";
        }
        if ((m = TE.matcher(key)).lookingAt()) {
            if (isSd2) return "model_transformer_resblocks_" + m.group(1) + "_" + openClipSuffix(m.group(2));
            return "transformer_text_model_encoder_layers_" + m.group(1) + "_" + m.group(2);
        }
        if ((m = TE2.matcher(key)).lookingAt()) return "1_model_transformer_resblocks_" + m.group(1) + "_" + openClipSuffix(m.group(2));
        return key;
    }

    private static int num(Matcher m, int group) {
        return Integer.parseInt(m.group(group));
    }

    private static boolean attentions(String blockKind) {
        return blockKind.equals("attentions");
    }

    private static String suffix(String blockKind, String suffix) {
        return attentions(blockKind) ? suffix : RESNET_SUFFIX.getOrDefault(suffix, suffix);
    }

    /** The SD 2 / SDXL-te2 branch: transformers' CLIP names to OpenCLIP's, one replacement as networks.py does. */
    private static String openClipSuffix(String s) {
        if (s.contains("mlp_fc1")) return s.replace("mlp_fc1", "mlp_c_fc");
        if (s.contains("mlp_fc2")) return s.replace("mlp_fc2", "mlp_c_proj");
        return s.replace("self_attn", "attn");
    }

    /** load_network's lookup chain for one kohya module name; null when A1111 would report the keys as failed to match. */
    public static Target resolve(String kohyaName, Modules modules) {
        Map<String, Module> table = modules.byA1111Name();
        String key = convertDiffusersNameToCompvis(kohyaName, modules.isSd2());
        Module found = table.get(key);
        int part = -1;
        if (found == null) {
            Matcher m = X_PROJ.matcher(key);
            if (m.matches()) {
                found = table.get(m.group(1));
                if (found != null && found.kind() == Kind.MULTIHEAD_ATTENTION) part = "qkv".indexOf(m.group(2).charAt(0));
            }
        }
        if (found == null && kohyaName.contains("lora_unet")) {
            key = kohyaName.replace("lora_unet", "diffusion_model");
            found = table.get(key);
        } else if (found == null && kohyaName.contains("lora_te1_text_model")) {
            key = kohyaName.replace("lora_te1_text_model", "0_transformer_text_model");
            found = table.get(key);
            if (found == null) {   // "some SD1 Loras also have correct compvis keys"
                key = kohyaName.replace("lora_te1_text_model", "transformer_text_model");
                found = table.get(key);
            }
        }
        return found == null ? null : new Target(key, found, part);
    }

    /**
     * A1111's {@code keys_failed_to_match}: each tensor key whose module (the part before the first '.') resolves
     * to no module, with the name it was looked up as; in key order.
     */
    public static Map<String, String> unmatchedKeys(Collection<String> tensorKeys, Modules modules) {
        Map<String, String> failed = new TreeMap<>();
        for (String key : tensorKeys) {
            int dot = key.indexOf('.');
            String module = dot < 0 ? key : key.substring(0, dot);
            if (resolve(module, modules) == null) failed.put(key, convertDiffusersNameToCompvis(module, modules.isSd2()));
        }
        return failed;
    }

    /** The LDM module key a kohya name addresses (e.g. {@code model.diffusion_model.input_blocks.1.1.proj_in}), or null. */
    public static String toLdm(String kohyaName, Modules modules) {
        Target t = resolve(kohyaName, modules);
        return t == null ? null : t.module().ldmKey();
    }
}
