package dev.sumi.lora;

import dev.sumi.device.Device;
import dev.sumi.model.KeyMap;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNetLayout;
import dev.sumi.nn.ParamSpec;
import dev.sumi.tensor.DType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The LoRA modules of an SD model, chosen by kohya sd-scripts' {@code networks/lora.py} rules
 * ({@code LoRANetwork.create_modules}), with their weights on the host (F32).
 *
 * <p>Targets: in the UNet every Linear and Conv2d child of a {@code Transformer2DModel} (LDM: a
 * SpatialTransformer: proj_in, proj_out, attn1/attn2 to_q/k/v/out.0, ff.net.0.proj, ff.net.2); with LoCon
 * (conv dim > 0) also every Linear and Conv2d child of {@code ResnetBlock2D} (in_layers.2, out_layers.3,
 * emb_layers.1, skip_connection), {@code Downsample2D} (op) and {@code Upsample2D} (conv). In the text
 * encoder every Linear of {@code CLIPAttention} (q, k, v, out) and {@code CLIPMLP} (fc1, fc2). A Linear or a
 * 1x1 conv gets (dim, alpha), a 3x3 conv (convDim, convAlpha). SD 1.5: 192 UNet + 72 text-encoder modules,
 * 350 with LoCon (+ 22 ResBlocks x 3, 14 skip convs, 3 Downsample, 3 Upsample).
 *
 * <p>Init as kohya: down kaiming-uniform with a = sqrt(5) (torch's default Linear/Conv2d init: U(-b, b),
 * b = 1 / sqrt(fan in), fan in = in * k * k), drawn from one {@link SplittableRandom} seeded by the
 * options, module by module in {@link #modules()} order; up zero.
 */
public final class LoraNetwork {

    private final LoraOptions options;
    private final Lineage lineage;
    private List<LoraModule> modules;   // replaced by load (alphas from the file)
    private final Map<String, LoraModule> byName = new LinkedHashMap<>();
    private final Map<String, float[]> down = new LinkedHashMap<>(), up = new LinkedHashMap<>();

    private LoraNetwork(LoraOptions options, Lineage lineage, List<LoraModule> modules) {
        this.options = options;
        this.lineage = lineage;
        this.modules = List.copyOf(modules);
        for (LoraModule m : modules) {
            if (byName.put(m.kohyaName(), m) != null) throw new IllegalStateException("lora: module name " + m.kohyaName() + " twice");
        }
    }

    /** The network for a model with this UNet and (first) text encoder, initialised as kohya does. */
    public static LoraNetwork create(LoraOptions o, Lineage lineage, UNetConfig unet, TextEncoderConfig textEncoder) {
        LoraNetwork n = new LoraNetwork(o, lineage, modules(o, lineage, unet, textEncoder));
        SplittableRandom rng = new SplittableRandom(o.seed());
        for (LoraModule m : n.modules) {
            double bound = 1 / Math.sqrt((double) m.downCount() / m.rank());
            float[] d = new float[Math.toIntExact(m.downCount())];
            for (int i = 0; i < d.length; i++) d[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
            n.down.put(m.kohyaName(), d);
            n.up.put(m.kohyaName(), new float[Math.toIntExact(m.upCount())]);
        }
        return n;
    }

    /**
     * A network of explicit modules with these weights (inference: several files combined per layer by
     * {@link InferenceLoras}). Its options only describe it: the largest Linear / 1x1 and 3x3 ranks and alphas,
     * the components it adapts, multiplier 1 (the modules' alphas carry every scale).
     */
    public static LoraNetwork of(Lineage lineage, List<LoraModule> modules, Map<String, LoraTensors> weights) {
        if (modules.isEmpty()) throw new IllegalArgumentException("lora: a network needs at least one module");
        int dim = 1, convDim = 0;
        float alpha = 1, convAlpha = 0;
        boolean unet = false, textEncoder = false;
        for (LoraModule m : modules) {
            if (m.kernel() > 1 && m.rank() >= convDim) {
                convDim = m.rank();
                convAlpha = m.alpha();
            } else if (m.kernel() <= 1 && m.rank() >= dim) {
                dim = m.rank();
                alpha = m.alpha();
            }
            unet |= m.component() == Component.UNET;
            textEncoder |= m.component() != Component.UNET;
        }
        LoraNetwork n = new LoraNetwork(new LoraOptions(dim, alpha, convDim, convAlpha, unet, textEncoder, 1f, 0), lineage, modules);
        n.load(weights);
        return n;
    }

    /** The modules kohya creates, text encoder first, each network in its parameter order. */
    static List<LoraModule> modules(LoraOptions o, Lineage lineage, UNetConfig unet, TextEncoderConfig textEncoder) {
        List<LoraModule> out = new ArrayList<>();
        if (o.textEncoder()) {
            for (ParamSpec p : TextEncoderLayout.parameters(textEncoder)) {
                String n = p.name();
                if (KeyMap.isUnused(lineage, Component.TEXT_ENCODER, KeyMap.prefix(lineage, Component.TEXT_ENCODER) + n)) continue;
                long[] s = p.shape();
                if (n.endsWith(".attn.in_proj_weight")) {   // OpenCLIP: q, k, v stacked, three diffusers Linears
                    for (int part = 0; part < 3; part++) out.add(module(o, lineage, Component.TEXT_ENCODER, new LoraSite(n, part), s[1], s[0] / 3, 0));
                } else if (s.length == 2 && n.endsWith(".weight") && (n.contains(".self_attn.") || n.contains(".mlp.") || n.contains(".attn.out_proj."))) {
                    out.add(module(o, lineage, Component.TEXT_ENCODER, LoraSite.of(n), s[1], s[0], 0));
                }
            }
        }
        if (o.unet()) {
            for (ParamSpec p : UNetLayout.parameters(unet)) {
                String n = p.name();
                long[] s = p.shape();
                if (!n.endsWith(".weight") || s.length < 2) continue;   // biases, norms
                boolean transformer = n.contains(".transformer_blocks.") || n.endsWith(".proj_in.weight") || n.endsWith(".proj_out.weight");
                boolean convBlock = n.contains(".in_layers.") || n.contains(".out_layers.") || n.contains(".emb_layers.")
                        || n.contains(".skip_connection.") || n.endsWith(".op.weight") || (n.startsWith("output_blocks.") && n.endsWith(".conv.weight"));
                if (!transformer && !(convBlock && o.locon())) continue;
                int kernel = s.length == 4 ? (int) s[2] : 0;
                out.add(module(o, KohyaNames.unetModuleName(unet, n), Component.UNET, LoraSite.of(n), s[1], s[0], kernel));
            }
        }
        return out;
    }

    private static LoraModule module(LoraOptions o, Lineage lineage, Component c, LoraSite site, long in, long outFeatures, int kernel) {
        return module(o, KohyaNames.moduleName(lineage, c, site.weight(), Math.max(site.part(), 0)), c, site, in, outFeatures, kernel);
    }

    private static LoraModule module(LoraOptions o, String name, Component c, LoraSite site, long in, long outFeatures, int kernel) {
        boolean convDim = kernel > 1;   // a Linear or a 1x1 conv gets the network dim, a 3x3 conv the conv dim
        return new LoraModule(name, c, site,
                Math.toIntExact(in), Math.toIntExact(outFeatures), kernel, convDim ? o.convDim() : o.dim(), convDim ? o.convAlpha() : o.alpha());
    }

    public LoraOptions options() {
        return options;
    }

    public Lineage lineage() {
        return lineage;
    }

    public List<LoraModule> modules() {
        return modules;
    }

    public List<LoraModule> modules(Component c) {
        return modules.stream().filter(m -> m.component() == c).toList();
    }

    /** Parameters of all modules (down + up). */
    public long parameterCount() {
        long n = 0;
        for (LoraModule m : modules) n += m.downCount() + m.upCount();
        return n;
    }

    /** Host copies of every module's down, up and alpha, by kohya module name, for the file writer. */
    public Map<String, LoraTensors> export() {
        Map<String, LoraTensors> out = new LinkedHashMap<>();
        for (LoraModule m : modules) {
            out.put(m.kohyaName(), new LoraTensors(m.kohyaName(), down.get(m.kohyaName()).clone(), m.downShape(), up.get(m.kohyaName()).clone(), m.upShape(), m.alpha()));
        }
        return Collections.unmodifiableMap(out);
    }

    /**
     * Replaces every module's weights and alpha with {@code weights} (resume, inference). The map must name
     * exactly this network's modules with their shapes; a missing, unknown or misshapen module is an error.
     */
    public void load(Map<String, LoraTensors> weights) {
        for (String name : weights.keySet()) {
            if (!byName.containsKey(name)) throw new IllegalArgumentException("lora: module " + name + " is not part of this network (" + options + ")");
        }
        Map<String, LoraModule> replaced = new LinkedHashMap<>();
        for (LoraModule m : modules) {
            LoraTensors w = weights.get(m.kohyaName());
            if (w == null) throw new IllegalArgumentException("lora: module " + m.kohyaName() + " is missing");
            if (!Arrays.equals(w.downShape(), m.downShape()) || w.down().length != m.downCount()) {
                throw new IllegalArgumentException("lora: " + m.kohyaName() + ".lora_down.weight is " + Arrays.toString(w.downShape()) + ", expected " + Arrays.toString(m.downShape()));
            }
            if (!Arrays.equals(w.upShape(), m.upShape()) || w.up().length != m.upCount()) {
                throw new IllegalArgumentException("lora: " + m.kohyaName() + ".lora_up.weight is " + Arrays.toString(w.upShape()) + ", expected " + Arrays.toString(m.upShape()));
            }
            if (!(w.alpha() > 0) || !Float.isFinite(w.alpha())) throw new IllegalArgumentException("lora: " + m.kohyaName() + ".alpha is " + w.alpha() + ", must be positive");
            replaced.put(m.kohyaName(), new LoraModule(m.kohyaName(), m.component(), m.site(), m.in(), m.out(), m.kernel(), m.rank(), w.alpha()));
        }
        for (LoraModule m : modules) {
            LoraTensors w = weights.get(m.kohyaName());
            down.put(m.kohyaName(), w.down().clone());
            up.put(m.kohyaName(), w.up().clone());
        }
        modules = List.copyOf(replaced.values());
        byName.putAll(replaced);
    }

    /** The module as loaded (its alpha may come from a file). */
    public LoraModule module(String kohyaName) {
        LoraModule m = byName.get(kohyaName);
        if (m == null) throw new IllegalArgumentException("lora: no module " + kohyaName);
        return m;
    }

    float[] down(String name) {
        return down.get(name);
    }

    float[] up(String name) {
        return up.get(name);
    }

    /** Sets a module's host weights (tests set nonzero up matrices; a device download writes them back). */
    public void set(String kohyaName, float[] downValues, float[] upValues) {
        LoraModule m = module(kohyaName);
        if (downValues.length != m.downCount() || upValues.length != m.upCount()) throw new IllegalArgumentException("lora: " + kohyaName + ": wrong sizes");
        down.put(kohyaName, downValues.clone());
        up.put(kohyaName, upValues.clone());
    }

    /** The weights on {@code device}: F32 masters, copies in the activation {@code dtype}, F32 gradients. */
    public DeviceLora upload(Device device, DType dtype) {
        return new DeviceLora(this, device, dtype);
    }
}
