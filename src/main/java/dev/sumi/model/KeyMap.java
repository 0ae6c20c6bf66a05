package dev.sumi.model;

import dev.sumi.model.ModelArchitecture.Lineage;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The one place that renames tensors between the diffusers / transformers layout and the original
 * LDM single-file layout (the names of an A1111 / ComfyUI {@code .safetensors} checkpoint), for the
 * UNet, the VAE and the text encoders of SD 1.x, SD 2.x and SDXL.
 *
 * <p>The tables below were written from reading diffusers v0.31.0's conversion scripts, both ways:
 * {@code scripts/convert_diffusers_to_original_stable_diffusion.py} (SD 1.x / 2.x),
 * {@code scripts/convert_diffusers_to_original_sdxl.py} (SDXL) and
 * {@code src/diffusers/pipelines/stable_diffusion/convert_from_ckpt.py} (LDM to diffusers). Each table
 * names the script variable it mirrors. They are checked, tensor by tensor, against the scripts' own
 * output in {@code src/test/resources/keys/*.pairs.txt} (made by {@code scripts/golden-keys}).
 *
 * <h2>API</h2>
 * <ul>
 *   <li>{@link #toLdm(Lineage, Component, String)}: diffusers name, e.g. {@code down_blocks.0.resnets.0.norm1.weight},
 *       to the full LDM key with its component prefix, {@code model.diffusion_model.input_blocks.1.0.in_layers.0.weight}.</li>
 *   <li>{@link #toDiffusers(Lineage, Component, String)}: the way back, for keys that hold one diffusers tensor;
 *       {@link #toDiffusersAll(Lineage, Component, String)} also answers OpenCLIP's fused
 *       {@code attn.in_proj_weight/bias}, which hold q, k and v (in that order).</li>
 *   <li>{@link #transformFor(Lineage, Component, String)}: how the tensor's data changes on the way to LDM (see {@link Transform}).</li>
 *   <li>{@link #prefix(Lineage, Component)} and {@link #componentOf(Lineage, String)}: split a single-file checkpoint into
 *       components; {@link #isUnused(Lineage, Component, String)}: LDM keys that real checkpoints carry but that no
 *       diffusers model has (buffers, OpenCLIP's last layer in SD 2.x, {@code logit_scale}).</li>
 * </ul>
 * Names outside the tables raise {@link UnknownKeyException}, naming the key. Names are matched module by module
 * (the part after the module path is kept), so LoRA-style suffixes inside a module carry over unchanged.
 *
 * <h2>Data transforms</h2>
 * <ul>
 *   <li>VAE mid-block attention {@code to_q/to_k/to_v/to_out.0} weights: diffusers Linear {@code [C, C]},
 *       LDM 1x1 conv {@code [C, C, 1, 1]} ({@code reshape_weight_for_sd}, {@code conv_attn_to_linear}).</li>
 *   <li>OpenCLIP (SD 2.x text encoder, SDXL {@code embedders.1}): {@code q_proj/k_proj/v_proj} weight {@code [C, C]}
 *       and bias {@code [C]} are row blocks 0, 1, 2 of {@code in_proj_weight [3C, C]} / {@code in_proj_bias [3C]}
 *       ({@code convert_text_enc_state_dict_v20}: {@code torch.cat} of q, k, v).</li>
 *   <li>OpenCLIP {@code text_projection}: diffusers {@code text_projection.weight [P, C]} (a Linear) is the transpose
 *       of the LDM matrix {@code text_projection [C, P]} (the SDXL script's {@code .T.contiguous()}).</li>
 * </ul>
 */
public final class KeyMap {

    private KeyMap() {}

    /** A network inside a pipeline, named as the diffusers sub-folders are. */
    public enum Component { UNET, VAE, TEXT_ENCODER, TEXT_ENCODER_2 }

    // ---- LDM prefixes (the __main__ blocks of both scripts); the strings live in LdmComponent -----------------------
    public static final String UNET_PREFIX = LdmComponent.UNET.prefix; // "model.diffusion_model."
    public static final String VAE_PREFIX = LdmComponent.VAE.prefix; // "first_stage_model."
    /** SD 1.x: a Hugging Face CLIPTextModel (CLIP-L/14), its own names inside. */
    public static final String SD1_TEXT_ENCODER_PREFIX = LdmComponent.TEXT_ENCODER_CLIP.prefix; // "cond_stage_model.transformer."
    /** SD 2.x: the OpenCLIP ViT-H/14 text tower. */
    public static final String SD2_TEXT_ENCODER_PREFIX = LdmComponent.TEXT_ENCODER_OPENCLIP.prefix; // "cond_stage_model.model."
    /** SDXL text encoder 1: a Hugging Face CLIPTextModel (CLIP-L/14). */
    public static final String SDXL_TEXT_ENCODER_PREFIX = LdmComponent.SDXL_TEXT_ENCODER_1.prefix; // "conditioner.embedders.0.transformer."
    /** SDXL text encoder 2: the OpenCLIP ViT-bigG/14 text tower. */
    public static final String SDXL_TEXT_ENCODER_2_PREFIX = LdmComponent.SDXL_TEXT_ENCODER_2.prefix; // "conditioner.embedders.1.model."

    /** The LDM key prefix of a component; throws for a component the family lacks (SD 1.x/2.x have one text encoder). */
    public static String prefix(Lineage f, Component c) {
        return switch (c) {
            case UNET -> UNET_PREFIX;
            case VAE -> VAE_PREFIX;
            case TEXT_ENCODER -> switch (f) {
                case SD1 -> SD1_TEXT_ENCODER_PREFIX;
                case SD2 -> SD2_TEXT_ENCODER_PREFIX;
                case SDXL -> SDXL_TEXT_ENCODER_PREFIX;
            };
            case TEXT_ENCODER_2 -> {
                if (f != Lineage.SDXL) throw new IllegalArgumentException(f + " has no second text encoder");
                yield SDXL_TEXT_ENCODER_2_PREFIX;
            }
        };
    }

    /** The component an LDM key belongs to in a checkpoint of family {@code f}, or null (EMA, schedule buffers, ...). */
    public static Component componentOf(Lineage f, String ldmKey) {
        for (Component c : Component.values()) {
            if (c == Component.TEXT_ENCODER_2 && f != Lineage.SDXL) continue;
            if (ldmKey.startsWith(prefix(f, c))) return c;
        }
        return null;
    }

    /**
     * LDM keys that real checkpoints carry and that have no tensor in the diffusers model, to be skipped by a loader:
     * {@code text_model.embeddings.position_ids} (a buffer transformers no longer saves), OpenCLIP's
     * {@code logit_scale}, and for SD 2.x {@code text_projection} and the 24th layer {@code transformer.resblocks.23.*}
     * (diffusers keeps the 23 layers whose output SD 2.x uses; {@code convert_open_clip_checkpoint} drops them).
     */
    public static boolean isUnused(Lineage f, Component c, String ldmKey) {
        if (c != Component.TEXT_ENCODER && c != Component.TEXT_ENCODER_2) return false;
        String p = prefix(f, c);
        if (!ldmKey.startsWith(p)) return false;
        String rest = ldmKey.substring(p.length());
        if (rest.equals("text_model.embeddings.position_ids") || rest.equals("embeddings.position_ids")
                || rest.equals("logit_scale")) return true;
        return f == Lineage.SD2 && (rest.equals("text_projection") || rest.startsWith("transformer.resblocks.23."));
    }

    /** Thrown for a name that the tables do not know; the message names the key, family and component. */
    public static final class UnknownKeyException extends IllegalArgumentException {
        public final String key;

        UnknownKeyException(String key, String why) {
            super("unknown tensor name '" + key + "': " + why);
            this.key = key;
        }
    }

    /**
     * How a tensor's data differs between the two layouts. {@link #ldmShape} and {@link #diffusersShape} map a shape
     * across; for {@link Kind#QKV_SLICE} the LDM tensor is the whole fused one and {@code part} says which row block
     * (0 = q, 1 = k, 2 = v) of {@code parts} this diffusers tensor is.
     */
    public record Transform(Kind kind, int part, int parts) {
        public enum Kind {
            /** Same data, same shape. */
            IDENTITY,
            /** diffusers Linear weight {@code [O, I]} = LDM 1x1 conv weight {@code [O, I, 1, 1]}; same data. */
            CONV1X1,
            /** diffusers {@code [C, ...]} = rows {@code [part*C, (part+1)*C)} of LDM {@code [parts*C, ...]}. */
            QKV_SLICE,
            /** diffusers {@code [P, C]} = transpose of LDM {@code [C, P]}. */
            TRANSPOSE
        }

        public static final Transform IDENTITY = new Transform(Kind.IDENTITY, 0, 1);
        public static final Transform CONV1X1 = new Transform(Kind.CONV1X1, 0, 1);
        public static final Transform TRANSPOSE = new Transform(Kind.TRANSPOSE, 0, 1);

        public static Transform qkv(int part) {
            return new Transform(Kind.QKV_SLICE, part, 3);
        }

        /** The LDM tensor's shape given this diffusers tensor's shape. */
        public long[] ldmShape(long[] d) {
            return switch (kind) {
                case IDENTITY -> d.clone();
                case CONV1X1 -> {
                    long[] s = Arrays.copyOf(d, d.length + 2);
                    s[d.length] = 1;
                    s[d.length + 1] = 1;
                    yield s;
                }
                case QKV_SLICE -> {
                    long[] s = d.clone();
                    s[0] *= parts;
                    yield s;
                }
                case TRANSPOSE -> new long[] {d[1], d[0]};
            };
        }

        /** This diffusers tensor's shape given the LDM tensor's shape. */
        public long[] diffusersShape(long[] l) {
            return switch (kind) {
                case IDENTITY -> l.clone();
                case CONV1X1 -> {
                    if (l.length < 3 || l[l.length - 1] != 1 || l[l.length - 2] != 1)
                        throw new IllegalArgumentException("not a 1x1 conv weight: " + Arrays.toString(l));
                    yield Arrays.copyOf(l, l.length - 2);
                }
                case QKV_SLICE -> {
                    if (l[0] % parts != 0) throw new IllegalArgumentException("not divisible by " + parts + ": " + Arrays.toString(l));
                    long[] s = l.clone();
                    s[0] /= parts;
                    yield s;
                }
                case TRANSPOSE -> new long[] {l[1], l[0]};
            };
        }
    }

    // ---- public conversions --------------------------------------------------------------------------------------

    /** The full LDM key (component prefix included) of a diffusers tensor name. */
    public static String toLdm(Lineage f, Component c, String diffusersName) {
        return prefix(f, c) + single(table(f, c).convert(diffusersName, true), diffusersName, f, c).name;
    }

    /** How the tensor's data changes from diffusers to LDM (identity for nearly all). */
    public static Transform transformFor(Lineage f, Component c, String diffusersName) {
        return single(table(f, c).convert(diffusersName, true), diffusersName, f, c).transform;
    }

    /**
     * The diffusers name of an LDM key (prefix included) that holds exactly one diffusers tensor. For OpenCLIP's fused
     * {@code in_proj_weight/bias} use {@link #toDiffusersAll}.
     */
    public static String toDiffusers(Lineage f, Component c, String ldmKey) {
        List<Hit> hits = table(f, c).convert(stripPrefix(f, c, ldmKey), false);
        if (hits.size() != 1)
            throw new IllegalArgumentException("'" + ldmKey + "' holds " + hits.size() + " diffusers tensors "
                    + hits.stream().map(Hit::name).toList() + "; use toDiffusersAll");
        return hits.get(0).name;
    }

    /** The diffusers names held by an LDM key, in concatenation order (q, k, v for a fused projection). */
    public static List<String> toDiffusersAll(Lineage f, Component c, String ldmKey) {
        return table(f, c).convert(stripPrefix(f, c, ldmKey), false).stream().map(Hit::name).toList();
    }

    private static String stripPrefix(Lineage f, Component c, String ldmKey) {
        String p = prefix(f, c);
        if (!ldmKey.startsWith(p))
            throw new UnknownKeyException(ldmKey, "the " + f + " " + c + " keys start with '" + p + "'");
        return ldmKey.substring(p.length());
    }

    private static Hit single(List<Hit> hits, String name, Lineage f, Component c) {
        if (hits.size() != 1) throw new IllegalStateException("ambiguous table entry for '" + name + "' in " + f + " " + c);
        return hits.get(0);
    }

    // ---- the rename machinery: modules matched by path, names inside renamed by a small table ----------------------

    private enum Dir { BOTH, TO_LDM, TO_DIFFUSERS }

    /**
     * One renaming: {@code diffusers} path to {@code ldm} path. A {@code leaf} rule matches the whole (remaining) name;
     * otherwise it matches a module path and keeps what follows it, renamed by {@code inner} (null: kept as is).
     */
    private record Rule(String diffusers, String ldm, boolean leaf, Transform transform, List<Rule> inner, Dir dir) {
        String from(boolean toLdm) {
            return toLdm ? diffusers : ldm;
        }

        String to(boolean toLdm) {
            return toLdm ? ldm : diffusers;
        }

        boolean applies(boolean toLdm) {
            return dir == Dir.BOTH || (dir == Dir.TO_LDM) == toLdm;
        }
    }

    private record Hit(String name, Transform transform) {}

    private static Rule module(String diffusers, String ldm, List<Rule> inner) {
        return new Rule(diffusers, ldm, false, Transform.IDENTITY, inner, Dir.BOTH);
    }

    private static Rule leaf(String diffusers, String ldm, Transform t) {
        return new Rule(diffusers, ldm, true, t, null, Dir.BOTH);
    }

    /** Module renames inside a block, from {@code {diffusers, ldm}} pairs; the rest of the name is kept. */
    private static List<Rule> renames(String[][] pairs) {
        List<Rule> out = new ArrayList<>();
        for (String[] p : pairs) out.add(module(p[0], p[1], null));
        return List.copyOf(out);
    }

    /** The rules of one component of one family, indexed by path in both directions. */
    private static final class Table {
        final String what;
        final Map<String, List<Rule>> byDiffusers = new HashMap<>();
        final Map<String, List<Rule>> byLdm = new HashMap<>();

        Table(String what, List<Rule> rules) {
            this.what = what;
            for (Rule r : rules) {
                if (r.applies(true)) byDiffusers.computeIfAbsent(r.diffusers, k -> new ArrayList<>()).add(r);
                if (r.applies(false)) byLdm.computeIfAbsent(r.ldm, k -> new ArrayList<>()).add(r);
            }
        }

        List<Hit> convert(String name, boolean toLdm) {
            Map<String, List<Rule>> index = toLdm ? byDiffusers : byLdm;
            // Try each dot-boundary prefix of the name, then the whole name; module paths never nest.
            for (int i = name.indexOf('.'); ; i = name.indexOf('.', i + 1)) {
                int end = i < 0 ? name.length() : i;
                List<Rule> rules = index.get(name.substring(0, end));
                if (rules != null) {
                    String rest = end == name.length() ? "" : name.substring(end + 1);
                    List<Hit> hits = new ArrayList<>();
                    for (Rule r : rules) {
                        if (r.leaf != rest.isEmpty()) continue;
                        if (r.leaf) hits.add(new Hit(r.to(toLdm), r.transform));
                        else inner(r, rest, toLdm, hits);
                    }
                    if (!hits.isEmpty()) return hits;
                    throw new UnknownKeyException(name, "'" + name.substring(0, end) + "' is a known " + what
                            + " module, but '" + rest + "' is not a tensor of it");
                }
                if (i < 0) break;
            }
            throw new UnknownKeyException(name, "no " + what + " module " + (toLdm ? "(diffusers layout)" : "(LDM layout)")
                    + " matches it");
        }

        private static void inner(Rule r, String rest, boolean toLdm, List<Hit> hits) {
            String base = r.to(toLdm) + ".";
            if (r.inner == null) {
                hits.add(new Hit(base + rest, r.transform));
                return;
            }
            for (Rule in : r.inner) {
                if (!in.applies(toLdm)) continue;
                String src = in.from(toLdm);
                if (in.leaf ? rest.equals(src) : rest.startsWith(src + "."))
                    hits.add(new Hit(base + in.to(toLdm) + (in.leaf ? "" : rest.substring(src.length())), in.transform));
            }
        }
    }

    private static final Map<Lineage, Map<Component, Table>> TABLES = new EnumMap<>(Lineage.class);

    static {
        for (Lineage f : Lineage.values()) {
            Map<Component, Table> m = new EnumMap<>(Component.class);
            m.put(Component.UNET, new Table(f + " UNet", KeyMapTables.unet(f)));
            m.put(Component.VAE, new Table(f + " VAE", KeyMapTables.vae()));
            m.put(Component.TEXT_ENCODER, new Table(f + " text encoder",
                    f == Lineage.SD2 ? KeyMapTables.openClip(24) : KeyMapTables.hfClip()));
            if (f == Lineage.SDXL) m.put(Component.TEXT_ENCODER_2, new Table(f + " text encoder 2", KeyMapTables.openClip(32)));
            TABLES.put(f, m);
        }
    }

    private static Table table(Lineage f, Component c) {
        Table t = TABLES.get(f).get(c);
        if (t == null) throw new IllegalArgumentException(f + " has no " + c);
        return t;
    }

    /** The data tables, one method per layout. Package-private so that the rules stay next to their readers. */
    static final class KeyMapTables {
        private KeyMapTables() {}

        // unet_conversion_map_resnet: diffusers ResnetBlock2D <-> ldm ResBlock (in_layers = [GroupNorm, SiLU, conv],
        // out_layers = [GroupNorm, SiLU, Dropout, conv], emb_layers = [SiLU, Linear]).
        static final String[][] UNET_RESNET = {
                {"norm1", "in_layers.0"}, {"conv1", "in_layers.2"},
                {"norm2", "out_layers.0"}, {"conv2", "out_layers.3"},
                {"time_emb_proj", "emb_layers.1"}, {"conv_shortcut", "skip_connection"},
        };
        // Transformer2DModel <-> ldm SpatialTransformer: same names inside (unet_conversion_map_layer renames only
        // the block prefix).
        static final String[][] UNET_ATTENTION = {
                {"norm", "norm"}, {"proj_in", "proj_in"}, {"proj_out", "proj_out"},
                {"transformer_blocks", "transformer_blocks"},
        };
        // unet_conversion_map (+ SDXL's label_emb rows): top-level layers. time_embed.1 and out.1 are SiLU.
        static final String[][] UNET_TOP = {
                {"time_embedding.linear_1", "time_embed.0"}, {"time_embedding.linear_2", "time_embed.2"},
                {"conv_in", "input_blocks.0.0"},
                {"conv_norm_out", "out.0"}, {"conv_out", "out.2"},
        };
        static final String[][] SDXL_UNET_TOP = {
                {"add_embedding.linear_1", "label_emb.0.0"}, {"add_embedding.linear_2", "label_emb.0.2"},
        };

        /**
         * unet_conversion_map_layer, as a layout: per resolution level i, diffusers down_blocks.i has 2 resnets (and
         * attentions where the level has them) and a downsampler except at the lowest level; ldm numbers the same
         * modules input_blocks.1.. in order, 3 per level (2 layers + downsampler). up_blocks.i has 3 of each and an
         * upsampler except at the last level: output_blocks.(3i+j), the upsampler sitting after the attention (slot 2)
         * when the level has one, else in slot 1 (the SDXL script's extra "output_blocks.2.2" row).
         */
        static List<Rule> unet(Lineage f) {
            boolean xl = f == Lineage.SDXL;
            boolean[] downAttention = xl ? new boolean[] {false, true, true} : new boolean[] {true, true, true, false};
            boolean[] upAttention = xl ? new boolean[] {true, true, false} : new boolean[] {false, true, true, true};
            int levels = downAttention.length;
            List<Rule> resnet = renames(UNET_RESNET);
            List<Rule> attention = renames(UNET_ATTENTION);
            List<Rule> rules = new ArrayList<>();
            for (String[] p : UNET_TOP) rules.add(module(p[0], p[1], null));
            if (xl) for (String[] p : SDXL_UNET_TOP) rules.add(module(p[0], p[1], null));
            for (int i = 0; i < levels; i++) {
                for (int j = 0; j < 2; j++) {
                    int n = 3 * i + j + 1;
                    rules.add(module("down_blocks." + i + ".resnets." + j, "input_blocks." + n + ".0", resnet));
                    if (downAttention[i])
                        rules.add(module("down_blocks." + i + ".attentions." + j, "input_blocks." + n + ".1", attention));
                }
                if (i < levels - 1)
                    rules.add(module("down_blocks." + i + ".downsamplers.0.conv", "input_blocks." + (3 * (i + 1)) + ".0.op", null));
                for (int j = 0; j < 3; j++) {
                    int n = 3 * i + j;
                    rules.add(module("up_blocks." + i + ".resnets." + j, "output_blocks." + n + ".0", resnet));
                    if (upAttention[i])
                        rules.add(module("up_blocks." + i + ".attentions." + j, "output_blocks." + n + ".1", attention));
                }
                if (i < levels - 1)
                    rules.add(module("up_blocks." + i + ".upsamplers.0.conv",
                            "output_blocks." + (3 * i + 2) + "." + (upAttention[i] ? 2 : 1) + ".conv", null));
            }
            rules.add(module("mid_block.resnets.0", "middle_block.0", resnet));
            rules.add(module("mid_block.attentions.0", "middle_block.1", attention));
            rules.add(module("mid_block.resnets.1", "middle_block.2", resnet));
            return rules;
        }

        // vae_conversion_map: ResnetBlock2D keeps its names except the shortcut.
        static final String[][] VAE_RESNET = {
                {"norm1", "norm1"}, {"conv1", "conv1"}, {"norm2", "norm2"}, {"conv2", "conv2"},
                {"conv_shortcut", "nin_shortcut"},
        };

        /**
         * vae_conversion_map_attn / the SDXL script's rows / renew_vae_attention_paths: diffusers Attention <-> ldm
         * AttnBlock (1x1 convs q, k, v, proj_out). The legacy diffusers names (query, key, value, proj_attn, before
         * diffusers 0.14) are read too.
         */
        static List<Rule> vaeAttention() {
            List<Rule> r = new ArrayList<>();
            r.add(module("group_norm", "norm", null));
            String[][] proj = {{"to_q", "q", "query"}, {"to_k", "k", "key"}, {"to_v", "v", "value"},
                    {"to_out.0", "proj_out", "proj_attn"}};
            for (String[] p : proj) {
                r.add(leaf(p[0] + ".weight", p[1] + ".weight", Transform.CONV1X1));
                r.add(leaf(p[0] + ".bias", p[1] + ".bias", Transform.IDENTITY));
                r.add(new Rule(p[2] + ".weight", p[1] + ".weight", true, Transform.CONV1X1, null, Dir.TO_LDM));
                r.add(new Rule(p[2] + ".bias", p[1] + ".bias", true, Transform.IDENTITY, null, Dir.TO_LDM));
            }
            return List.copyOf(r);
        }

        /**
         * vae_conversion_map: encoder.down_blocks.i <-> encoder.down.i (2 resnets, a downsampler but at the last), the
         * decoder's up_blocks.i <-> up.(3-i) (numbered the other way round; 3 resnets, an upsampler but at the last),
         * mid_block.resnets.k <-> mid.block_(k+1), mid_block.attentions.0 <-> mid.attn_1, conv_norm_out <-> norm_out.
         */
        static List<Rule> vae() {
            List<Rule> resnet = renames(VAE_RESNET);
            List<Rule> attention = vaeAttention();
            List<Rule> rules = new ArrayList<>();
            for (String s : new String[] {"quant_conv", "post_quant_conv"}) rules.add(module(s, s, null));
            for (String side : new String[] {"encoder", "decoder"}) {
                rules.add(module(side + ".conv_in", side + ".conv_in", null));
                rules.add(module(side + ".conv_out", side + ".conv_out", null));
                rules.add(module(side + ".conv_norm_out", side + ".norm_out", null));
                rules.add(module(side + ".mid_block.resnets.0", side + ".mid.block_1", resnet));
                rules.add(module(side + ".mid_block.resnets.1", side + ".mid.block_2", resnet));
                rules.add(module(side + ".mid_block.attentions.0", side + ".mid.attn_1", attention));
            }
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 2; j++)
                    rules.add(module("encoder.down_blocks." + i + ".resnets." + j, "encoder.down." + i + ".block." + j, resnet));
                if (i < 3)
                    rules.add(module("encoder.down_blocks." + i + ".downsamplers.0.conv", "encoder.down." + i + ".downsample.conv", null));
                for (int j = 0; j < 3; j++)
                    rules.add(module("decoder.up_blocks." + i + ".resnets." + j, "decoder.up." + (3 - i) + ".block." + j, resnet));
                if (i < 3)
                    rules.add(module("decoder.up_blocks." + i + ".upsamplers.0.conv", "decoder.up." + (3 - i) + ".upsample.conv", null));
            }
            return rules;
        }

        /**
         * SD 1.x and SDXL embedders.0 keep transformers' CLIPTextModel names under their prefix
         * (convert_text_enc_state_dict / convert_openai_text_enc_state_dict return the dict unchanged). Checkpoints
         * saved with old transformers lack the "text_model." level; those keys are read too.
         */
        static List<Rule> hfClip() {
            List<Rule> rules = new ArrayList<>();
            rules.add(module("text_model", "text_model", null));
            for (String s : new String[] {"embeddings", "encoder", "final_layer_norm"})
                rules.add(new Rule("text_model." + s, s, false, Transform.IDENTITY, null, Dir.TO_DIFFUSERS));
            return rules;
        }

        // textenc_conversion_lst: inside one layer, transformers CLIPEncoderLayer <-> OpenCLIP ResidualAttentionBlock.
        static final String[][] OPENCLIP_LAYER = {
                {"layer_norm1", "ln_1"}, {"layer_norm2", "ln_2"},
                {"mlp.fc1", "mlp.c_fc"}, {"mlp.fc2", "mlp.c_proj"},
                {"self_attn.out_proj", "attn.out_proj"},
        };

        /**
         * The OpenCLIP text tower (convert_text_enc_state_dict_v20 / convert_openclip_text_enc_state_dict one way,
         * convert_open_clip_checkpoint the other): resblocks.N <-> text_model.encoder.layers.N, q/k/v fused into
         * in_proj (q, k, v order: code2idx), embeddings and the final norm renamed, text_projection transposed.
         */
        static List<Rule> openClip(int layers) {
            List<Rule> layer = new ArrayList<>(renames(OPENCLIP_LAYER));
            String[] qkv = {"q", "k", "v"};
            for (int i = 0; i < 3; i++) {
                layer.add(leaf("self_attn." + qkv[i] + "_proj.weight", "attn.in_proj_weight", Transform.qkv(i)));
                layer.add(leaf("self_attn." + qkv[i] + "_proj.bias", "attn.in_proj_bias", Transform.qkv(i)));
            }
            List<Rule> inLayer = List.copyOf(layer);
            List<Rule> rules = new ArrayList<>();
            rules.add(module("text_model.embeddings.token_embedding", "token_embedding", null));
            rules.add(leaf("text_model.embeddings.position_embedding.weight", "positional_embedding", Transform.IDENTITY));
            rules.add(module("text_model.final_layer_norm", "ln_final", null));
            rules.add(leaf("text_projection.weight", "text_projection", Transform.TRANSPOSE));
            for (int n = 0; n < layers; n++)
                rules.add(module("text_model.encoder.layers." + n, "transformer.resblocks." + n, inLayer));
            return rules;
        }
    }
}
