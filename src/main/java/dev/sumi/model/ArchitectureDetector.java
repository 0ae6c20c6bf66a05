package dev.sumi.model;

import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.model.ModelArchitecture.TextEncoder;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNetLayout;
import dev.sumi.model.vae.VaeConfig;
import dev.sumi.model.vae.VaeLayout;
import dev.sumi.nn.ParamSpec;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Decides what a single-file checkpoint holds from its tensor names and shapes only, in one place
 * (as stable-diffusion.cpp's get_sd_version does): which components are present, each network's
 * architecture config, and the standard family it matches. Every derived config is then checked
 * by regenerating its full parameter list and comparing names and shapes with the file, so a
 * checkpoint is either understood completely or rejected with the first difference.
 *
 * <p>Head counts cannot be read from shapes. They follow the lineage (SD 1.x: 8 heads; SD 2.x and
 * SDXL: 64 channels per head; CLIP widths 768, 1024, 1280: 64 channels per head) unless the file's metadata says otherwise
 * ({@code sumi.unet.heads}, {@code sumi.unet.head_channels}, {@code sumi.text_encoder.heads},
 * {@code sumi.text_encoder_2.heads}), which {@code sumi make-model} writes for custom widths.
 */
public final class ArchitectureDetector {
    private ArchitectureDetector() {}

    /** Keys that real files carry besides the parameters, per component, which loaders skip. */
    static final Set<String> IGNORABLE = Set.of("text_model.embeddings.position_ids", "logit_scale", "embeddings.position_ids");

    public static ModelArchitecture detect(Map<String, long[]> tensors, Map<String, String> metadata, String source) {
        Map<LdmComponent, Map<String, long[]>> parts = split(tensors);
        if (parts.isEmpty()) throw new ModelFormatException(source + ": " + notACheckpoint(tensors));

        Map<String, long[]> unetTensors = parts.get(LdmComponent.UNET);
        Lineage lineage = lineage(parts, unetTensors);
        UNetConfig unet = unetTensors == null ? null : unet(unetTensors, lineage, metadata, source);
        VaeConfig vae = parts.containsKey(LdmComponent.VAE) ? vae(parts.get(LdmComponent.VAE), lineage, source) : null;
        List<TextEncoder> encoders = new ArrayList<>();
        int index = 0;
        for (LdmComponent c : LdmComponent.values()) {
            if (!c.isTextEncoder() || !parts.containsKey(c)) continue;
            String metaKey = index++ == 0 ? "sumi.text_encoder" : "sumi.text_encoder_2";
            encoders.add(new TextEncoder(c, textEncoder(c, parts.get(c), metadata, metaKey, source)));
        }
        return new ModelArchitecture(family(lineage, unet, vae, encoders), lineage, unet, vae, encoders);
    }

    /** The file's tensors by component, with the component prefix removed; EMA copies and schedule buffers dropped. */
    public static Map<LdmComponent, Map<String, long[]>> split(Map<String, long[]> tensors) {
        Map<LdmComponent, Map<String, long[]>> parts = new EnumMap<>(LdmComponent.class);
        for (var e : tensors.entrySet()) {
            LdmComponent c = LdmComponent.of(e.getKey());
            if (c != null) parts.computeIfAbsent(c, x -> new TreeMap<>()).put(e.getKey().substring(c.prefix.length()), e.getValue());
        }
        return parts;
    }

    private static String notACheckpoint(Map<String, long[]> tensors) {
        boolean lora = tensors.keySet().stream().anyMatch(k -> k.startsWith("lora_unet_") || k.startsWith("lora_te") || k.contains(".lora_A."));
        if (lora) return "this is a LoRA, not a base checkpoint (try sumi inspect)";
        boolean diffusers = tensors.keySet().stream().anyMatch(k -> k.startsWith("down_blocks.") || k.startsWith("text_model.") || k.startsWith("encoder.down_blocks."));
        if (diffusers) return "this is one component of a diffusers model; give the model folder (with model_index.json) instead";
        return "not a Stable Diffusion checkpoint: no tensor under model.diffusion_model., first_stage_model., cond_stage_model. or conditioner.";
    }

    private static Lineage lineage(Map<LdmComponent, Map<String, long[]>> parts, Map<String, long[]> unet) {
        if (parts.containsKey(LdmComponent.SDXL_TEXT_ENCODER_1) || parts.containsKey(LdmComponent.SDXL_TEXT_ENCODER_2)) return Lineage.SDXL;
        if (unet != null && unet.containsKey("label_emb.0.0.weight")) return Lineage.SDXL;
        if (parts.containsKey(LdmComponent.TEXT_ENCODER_OPENCLIP)) return Lineage.SD2;
        if (parts.containsKey(LdmComponent.TEXT_ENCODER_CLIP)) return Lineage.SD1;
        long[] toK = unet == null ? null : unet.entrySet().stream().filter(e -> e.getKey().endsWith("attn2.to_k.weight"))
                .map(Map.Entry::getValue).findFirst().orElse(null);
        if (toK != null && toK[1] == 1024) return Lineage.SD2;
        if (toK != null && toK[1] == 2048) return Lineage.SDXL;
        return Lineage.SD1;
    }

    // ---- UNet ------------------------------------------------------------------------------------

    private static final Pattern INPUT_BLOCK = Pattern.compile("input_blocks\\.(\\d+)\\.");
    private static final Pattern TRANSFORMER_BLOCK = Pattern.compile("\\.transformer_blocks\\.(\\d+)\\.");

    static UNetConfig unet(Map<String, long[]> t, Lineage lineage, Map<String, String> meta, String source) {
        String what = source + ": UNet";
        long[] convIn = need(t, "input_blocks.0.0.weight", what);
        int modelChannels = (int) convIn[0], inChannels = (int) convIn[1];
        int outChannels = (int) need(t, "out.2.weight", what)[0];
        int blocks = 0;
        for (String k : t.keySet()) {
            Matcher m = INPUT_BLOCK.matcher(k);
            if (m.lookingAt()) blocks = Math.max(blocks, Integer.parseInt(m.group(1)) + 1);
        }
        int levels = 1 + (int) t.keySet().stream().filter(k -> k.matches("input_blocks\\.\\d+\\.0\\.op\\.weight")).count();
        if ((blocks - levels) % levels != 0 || blocks <= levels) throw new ModelFormatException(what + ": " + blocks + " input blocks do not form " + levels + " levels");
        int numRes = (blocks - levels) / levels;
        int[] mult = new int[levels], depth = new int[levels];
        for (int level = 0, block = 1; level < levels; level++, block += numRes + 1) {
            long[] conv = need(t, "input_blocks." + block + ".0.in_layers.2.weight", what);
            if (conv[0] % modelChannels != 0) throw new ModelFormatException(what + ": level " + level + " has " + conv[0] + " channels, not a multiple of " + modelChannels);
            mult[level] = (int) (conv[0] / modelChannels);
            depth[level] = transformerDepth(t, "input_blocks." + block + ".1");
        }
        int middleDepth = transformerDepth(t, "middle_block.1");
        long[] projIn = t.entrySet().stream().filter(e -> e.getKey().endsWith(".proj_in.weight")).map(Map.Entry::getValue).findFirst().orElse(null);
        boolean linear = projIn != null && projIn.length == 2;
        long[] toK = t.entrySet().stream().filter(e -> e.getKey().endsWith("attn2.to_k.weight")).map(Map.Entry::getValue).findFirst().orElse(null);
        int context = toK == null ? 0 : (int) toK[1];
        long[] label = t.get("label_emb.0.0.weight");
        int adm = label == null ? 0 : (int) label[1];
        int heads = intMeta(meta, "sumi.unet.heads", -1), headChannels = intMeta(meta, "sumi.unet.head_channels", -1);
        if (heads < 0 && headChannels < 0) {
            if (lineage == Lineage.SD1) heads = 8;
            else headChannels = 64;
        }
        UNetConfig c = new UNetConfig(inChannels, outChannels, modelChannels, mult, numRes, depth, middleDepth, context, heads, headChannels, linear, adm);
        verify(what, UNetLayout.parameters(c), t);
        return c;
    }

    private static int transformerDepth(Map<String, long[]> t, String prefix) {
        int depth = 0;
        for (String k : t.keySet()) {
            if (!k.startsWith(prefix + ".transformer_blocks.")) continue;
            Matcher m = TRANSFORMER_BLOCK.matcher(k.substring(prefix.length()));
            if (m.lookingAt()) depth = Math.max(depth, Integer.parseInt(m.group(1)) + 1);
        }
        return depth;
    }

    // ---- VAE -------------------------------------------------------------------------------------

    static VaeConfig vae(Map<String, long[]> t, Lineage lineage, String source) {
        String what = source + ": VAE";
        long[] convIn = need(t, "encoder.conv_in.weight", what);
        int ch = (int) convIn[0];
        int levels = (int) t.keySet().stream().filter(k -> k.matches("encoder\\.down\\.\\d+\\.block\\.0\\.conv1\\.weight")).count();
        int numRes = (int) t.keySet().stream().filter(k -> k.matches("encoder\\.down\\.0\\.block\\.\\d+\\.conv1\\.weight")).count();
        int[] mult = new int[levels];
        for (int i = 0; i < levels; i++) mult[i] = (int) (need(t, "encoder.down." + i + ".block.0.conv1.weight", what)[0] / ch);
        int z = (int) need(t, "post_quant_conv.weight", what)[0];
        VaeConfig std = lineage == Lineage.SDXL ? VaeConfig.sdxl() : VaeConfig.sd();
        VaeConfig c = new VaeConfig(ch, mult, numRes, (int) convIn[1], z, std.scalingFactor());
        verify(what, VaeLayout.parameters(c), t);
        return c;
    }

    // ---- text encoders -----------------------------------------------------------------------------

    static TextEncoderConfig textEncoder(LdmComponent comp, Map<String, long[]> t, Map<String, String> meta, String metaKey, String source) {
        String what = source + ": " + comp.description;
        boolean hf = comp == LdmComponent.TEXT_ENCODER_CLIP || comp == LdmComponent.SDXL_TEXT_ENCODER_1;
        TextEncoderConfig c;
        if (hf) {
            long[] tok = need(t, "text_model.embeddings.token_embedding.weight", what);
            int width = (int) tok[1];
            int layers = count(t, "text_model\\.encoder\\.layers\\.\\d+\\.mlp\\.fc1\\.weight");
            int inter = (int) need(t, "text_model.encoder.layers.0.mlp.fc1.weight", what)[0];
            int positions = (int) need(t, "text_model.embeddings.position_embedding.weight", what)[0];
            long[] proj = t.get("text_projection.weight");
            boolean quick = !"gelu".equals(meta.get(metaKey + ".activation"));
            c = new TextEncoderConfig(TextEncoderConfig.Layout.HF_CLIP, (int) tok[0], width, layers, heads(meta, metaKey, width, what),
                    inter, positions, quick, proj == null ? 0 : (int) proj[0]);
        } else {
            long[] tok = need(t, "token_embedding.weight", what);
            int width = (int) tok[1];
            int layers = count(t, "transformer\\.resblocks\\.\\d+\\.mlp\\.c_fc\\.weight");
            int inter = (int) need(t, "transformer.resblocks.0.mlp.c_fc.weight", what)[0];
            int positions = (int) need(t, "positional_embedding", what)[0];
            long[] proj = t.get("text_projection");
            c = new TextEncoderConfig(TextEncoderConfig.Layout.OPEN_CLIP, (int) tok[0], width, layers, heads(meta, metaKey, width, what),
                    inter, positions, false, proj == null ? 0 : (int) proj[1]);
        }
        verify(what, TextEncoderLayout.parameters(c), t);
        return c;
    }

    private static int heads(Map<String, String> meta, String metaKey, int width, String what) {
        int h = intMeta(meta, metaKey + ".heads", -1);
        if (h > 0) return h;
        // the widths of the encoders SD ships: CLIP-L 768, OpenCLIP-H 1024, OpenCLIP-bigG 1280, all 64 channels per head
        if (width == 768 || width == 1024 || width == 1280) return width / 64;
        throw new ModelFormatException(what + ": width " + width + " is not a standard CLIP width and the file does not say its head count ("
                + metaKey + ".heads in the metadata)");
    }

    // ---- shared --------------------------------------------------------------------------------------

    private static String family(Lineage lineage, UNetConfig unet, VaeConfig vae, List<TextEncoder> encoders) {
        boolean inpaint = unet != null && unet.inChannels() == 9;
        UNetConfig u = unet == null ? null : new UNetConfig(4, unet.outChannels(), unet.modelChannels(), unet.channelMult(), unet.numResBlocks(),
                unet.transformerDepth(), unet.middleDepth(), unet.contextDim(), unet.numHeads(), unet.numHeadChannels(), unet.linearProjection(), unet.admInChannels());
        List<TextEncoderConfig> te = encoders.stream().map(TextEncoder::config).toList();
        boolean standard = switch (lineage) {
            case SD1 -> (u == null || u.equals(UNetConfig.sd1())) && (vae == null || vae.equals(VaeConfig.sd()))
                    && te.stream().allMatch(c -> c.equals(TextEncoderConfig.clipL()));
            case SD2 -> (u == null || u.equals(UNetConfig.sd2())) && (vae == null || vae.equals(VaeConfig.sd()))
                    && te.stream().allMatch(c -> c.layout() == TextEncoderConfig.Layout.OPEN_CLIP && c.width() == 1024);
            case SDXL -> (u == null || u.equals(UNetConfig.sdxl())) && (vae == null || vae.equals(VaeConfig.sdxl()));
        };
        String name = switch (lineage) {
            case SD1 -> "SD 1.x";
            case SD2 -> "SD 2.x";
            case SDXL -> "SDXL base";
        };
        if (!standard) return "custom (" + name + " topology)";
        return inpaint ? name + " inpainting" : name;
    }

    /** Fails unless {@code actual} holds exactly the {@code expected} parameters (plus ignorable buffers). */
    static void verify(String what, List<ParamSpec> expected, Map<String, long[]> actual) {
        int matched = 0;
        for (ParamSpec p : expected) {
            long[] shape = actual.get(p.name());
            if (shape == null) throw new ModelFormatException(what + ": missing tensor " + p.name() + " " + p.shapeString());
            if (!Arrays.equals(shape, p.shape())) {
                throw new ModelFormatException(what + ": " + p.name() + " has shape " + Arrays.toString(shape) + ", expected " + p.shapeString());
            }
            matched++;
        }
        if (matched != actual.size()) {
            Set<String> names = new java.util.HashSet<>();
            for (ParamSpec p : expected) names.add(p.name());
            for (String k : actual.keySet()) {
                if (!names.contains(k) && !IGNORABLE.contains(k)) throw new ModelFormatException(what + ": unexpected tensor " + k + " for the derived architecture");
            }
        }
    }

    private static long[] need(Map<String, long[]> t, String name, String what) {
        long[] s = t.get(name);
        if (s == null) throw new ModelFormatException(what + ": missing tensor " + name);
        return s;
    }

    private static int count(Map<String, long[]> t, String regex) {
        return (int) t.keySet().stream().filter(k -> k.matches(regex)).count();
    }

    private static int intMeta(Map<String, String> meta, String key, int fallback) {
        String v = meta.get(key);
        if (v == null) return fallback;
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new ModelFormatException("metadata " + key + " = '" + v + "' is not an integer");
        }
    }
}
