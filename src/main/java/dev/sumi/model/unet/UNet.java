package dev.sumi.model.unet;

import dev.sumi.device.Device;
import dev.sumi.device.DeviceBuffer;
import dev.sumi.device.GemmParams;
import dev.sumi.lora.AdaptedConv;
import dev.sumi.lora.AdaptedLinear;
import dev.sumi.lora.Adapters;
import dev.sumi.lora.LoraAdapter;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.LdmComponent;
import dev.sumi.model.WeightLoader;
import dev.sumi.ops.ActivationOps;
import dev.sumi.ops.AttentionOps;
import dev.sumi.ops.AttentionParams;
import dev.sumi.ops.BasicOps;
import dev.sumi.ops.Conv2dOps;
import dev.sumi.ops.Conv2dParams;
import dev.sumi.ops.LinearOps;
import dev.sumi.ops.NormOps;
import dev.sumi.ops.ShapeOps;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The LDM UNet ({@code openaimodel.UNetModel}, = diffusers' UNet2DConditionModel) as a forward over the
 * op library, for a fixed (B, latent h, w, context length T, context width): a forward, and a backward
 * giving d loss / d latents and the F32 gradients of every attention and feed-forward Linear.
 *
 * <pre>
 * B = batch, C_l = channels of level l, (H_l, W_l) = (h, w) / 2^l, T = context tokens, E = 4 * model channels
 *
 * temb  = W2 silu(W1 timestep_embedding(t, model channels, [cos | sin]) + b1) + b2         (B, E)
 * h     = conv_in(latents)                                                                (B, C_0, h, w)   skip 0
 * down:  per level, numResBlocks x (ResBlock [+ SpatialTransformer]), each output a skip;
 *        then (not at the last level) Downsample: conv 3x3 stride 2 pad 1, a skip
 * mid:   ResBlock, SpatialTransformer, ResBlock
 * up:    per level from the last, numResBlocks + 1 x (h = cat(h, skip.pop()); ResBlock [+ SpatialTransformer]);
 *        then (not at level 0) Upsample: nearest 2x, conv 3x3
 * out   = conv_out(silu(group_norm(h)))                                                   (B, 4, h, w)
 *
 * ResBlock(x):  a = conv3x3(silu(gn(x))) + W_e silu(temb) + b_e   (the embedding per channel, after in_layers)
 *               out = skip(x) + conv3x3(silu(gn(a)))                skip = identity or a 1x1 conv
 * SpatialTransformer(x (B, C, H, W)), N = H W:
 *               t = proj_in(gn_1e-6(x)) as (B, N, C)                1x1 conv (or Linear), read transposed
 *               per block: t += attn1(ln1(t)); t += attn2(ln2(t), context); t += ff(ln3(t))
 *                          attn: to_q/k/v (no bias), heads from the config, softmax(q k^T / sqrt(D)) v, to_out
 *                          ff: Linear(C, 8C) -> GEGLU -> Linear(4C, C)
 *               out = x + proj_out(t) as (B, C, H, W)
 * </pre>
 *
 * <p>Layout changes cost no kernel: proj_in is one batched GEMM that reads the normalised NCHW image
 * transposed and writes tokens (B, N, C); proj_out one that reads tokens transposed and writes NCHW. A
 * per-(image, channel) addend (the timestep projection, proj_out's bias) is a rank-1 GEMM with a ones
 * vector ({@code h_b += ones(N) e_b^T}, beta 1). A 1x1-conv weight (C, C, 1, 1) and a Linear weight
 * (C, C) have the same memory, so both projection kinds run the same GEMMs.
 *
 * <p>Parameters are device tensors in the activation dtype, loaded once by their {@link UNetLayout}
 * names. Every activation and scratch buffer (and the conv workspace) is allocated by the constructor;
 * {@link #forward} and {@link #backward} only write into them. Activations are kept per module for the backward.
 */
public final class UNet implements AutoCloseable {

    private final UNetConfig config;
    private final Device device;
    private final DType dtype;
    private final int batch, height, width, contextTokens;
    private final List<Tensor> owned = new ArrayList<>();
    private final Map<String, Tensor> params;
    private final List<Module> down = new ArrayList<>(), up = new ArrayList<>();
    private final List<Module> middle = new ArrayList<>();
    private final List<Tensor> upSkips = new ArrayList<>();   // the skip each up ResBlock concatenates, in up order
    private final List<Tensor> upConcat = new ArrayList<>();  // (B, ch + skip, H_l, W_l) each

    // time embedding
    private final Tensor timeW1, timeB1, timeW2, timeB2;
    private final Tensor tSinusoid;   // (B, model channels)
    private final Tensor tHidden;     // (B, E) before SiLU
    private final Tensor tAct;        // (B, E) after SiLU
    private final Tensor temb;        // (B, E)
    private final Tensor tembAct;     // (B, E) silu(temb): every ResBlock's emb_layers input
    // conv_in, out
    private final Tensor convInW, convInB, outNormG, outNormB, outConvW, outConvB;
    private final Conv2dParams convInP, outConvP;
    private final Tensor hIn;                      // (B, C_0, h, w)
    private final Tensor outNorm, outMean, outRstd; // (B, C_0, h, w), F32 (B*32) x2
    private final Tensor output;                   // (B, out channels, h, w)

    private final Adapters adapters;
    private final Tensor dContextPart;  // (B, T, context width) one cross-attention's context gradient, scratch
    private Tensor dContext;            // the backward's context gradient (+=), or null when not wanted
    private final Tensor ones;        // (max H_l W_l) of 1: the rank-1 GEMMs' left factor
    private final DeviceBuffer workspace;
    private long workspaceBytes;

    private Tensor contextIn;              // the last forward's context (cross-attention k, v inputs; read by backward)
    private boolean forwardDone;
    private final Map<String, Tensor> gradients = new LinkedHashMap<>();   // layout name -> F32 gradient
    private final java.util.IdentityHashMap<Tensor, Tensor> grad = new java.util.IdentityHashMap<>();   // activation -> d loss / d it
    private final Tensor dOutNorm;     // (B, C_0, h, w)
    private final Tensor dLatents;     // (B, in channels, h, w)
    private final List<Tensor> dConcatA = new ArrayList<>(), dConcatB = new ArrayList<>();   // split scratch per up concat

    /** Loads {@code model.diffusion_model.*} from {@code checkpoint} onto {@code device} in {@code dtype}. */
    public static UNet load(Checkpoint checkpoint, UNetConfig config, Device device, DType dtype,
                            int batch, int height, int width, int contextTokens) {
        return load(checkpoint, config, device, dtype, batch, height, width, contextTokens, Adapters.LINEAR_GRADIENTS);
    }

    /** As {@link #load(Checkpoint, UNetConfig, Device, DType, int, int, int, int)}, training what {@code adapters} say. */
    public static UNet load(Checkpoint checkpoint, UNetConfig config, Device device, DType dtype,
                            int batch, int height, int width, int contextTokens, Adapters adapters) {
        return WeightLoader.loadAll(checkpoint, LdmComponent.UNET.prefix, UNetLayout.parameters(config), device, dtype,
                params -> new UNet(config, params, device, dtype, batch, height, width, contextTokens, adapters));
    }

    /** As {@link #UNet(UNetConfig, Map, Device, DType, int, int, int, int, Adapters)}, forming the attention / FF Linear gradients. */
    public UNet(UNetConfig config, Map<String, Tensor> params, Device device, DType dtype,
                int batch, int height, int width, int contextTokens) {
        this(config, params, device, dtype, batch, height, width, contextTokens, Adapters.LINEAR_GRADIENTS);
    }

    /**
     * {@code params}: every {@link UNetLayout} name of {@code config}, in {@code dtype}; the UNet takes ownership.
     * {@code adapters}: what the backward trains: LoRA / LoCon modules by site (the base frozen), the F32 gradients
     * of every attention and feed-forward Linear ({@link Adapters#LINEAR_GRADIENTS}), or nothing.
     */
    public UNet(UNetConfig config, Map<String, Tensor> params, Device device, DType dtype,
                int batch, int height, int width, int contextTokens, Adapters adapters) {
        if (config.admInChannels() > 0) throw new UnsupportedOperationException("unet: SDXL's label embedding (adm) is not implemented");
        int scale = 1 << (config.levels() - 1);
        if (batch < 1 || contextTokens < 1 || height < 1 || width < 1 || height % scale != 0 || width % scale != 0) {
            throw new IllegalArgumentException("unet: batch " + batch + ", latent " + height + "x" + width + ", context " + contextTokens
                    + ": sizes must be positive and h, w multiples of " + scale);
        }
        this.config = config;
        this.device = device;
        this.dtype = dtype;
        this.batch = batch;
        this.height = height;
        this.width = width;
        this.contextTokens = contextTokens;
        this.params = params;
        this.adapters = adapters;
        owned.addAll(params.values());
        try {
            int B = batch, E = config.timeEmbedDim(), c0 = config.modelChannels();
            ones = alloc(dtype, (long) height * width);
            BasicOps.fill(ones, 1f);
            timeW1 = param("time_embed.0.weight");
            timeB1 = param("time_embed.0.bias");
            timeW2 = param("time_embed.2.weight");
            timeB2 = param("time_embed.2.bias");
            tSinusoid = alloc(dtype, B, c0);
            tHidden = alloc(dtype, B, E);
            tAct = alloc(dtype, B, E);
            temb = alloc(dtype, B, E);
            tembAct = alloc(dtype, B, E);

            dContextPart = alloc(dtype, B, contextTokens, config.contextDim());
            convInW = param("input_blocks.0.0.weight");
            convInB = param("input_blocks.0.0.bias");
            convInP = conv(Conv2dParams.same3x3(B, config.inChannels(), height, width, c0));
            hIn = alloc(dtype, B, c0, height, width);

            // down: mirrors UNetLayout.parameters
            Deque<Tensor> skips = new ArrayDeque<>();
            skips.push(hIn);
            Tensor h = hIn;
            int ch = c0, block = 1, H = height, W = width;
            for (int level = 0; level < config.levels(); level++) {
                int out = config.channels(level);
                for (int r = 0; r < config.numResBlocks(); r++, block++) {
                    h = add(down, new ResBlock("input_blocks." + block + ".0", h, out)).output();
                    ch = out;
                    if (config.transformerDepth()[level] > 0) {
                        h = add(down, new SpatialTransformer("input_blocks." + block + ".1", h, config.transformerDepth()[level])).output();
                    }
                    skips.push(h);
                }
                if (level < config.levels() - 1) {
                    h = add(down, new Downsample("input_blocks." + block + ".0.op", h)).output();
                    skips.push(h);
                    block++;
                    H /= 2;
                    W /= 2;
                }
            }
            h = add(middle, new ResBlock("middle_block.0", h, ch)).output();
            h = add(middle, new SpatialTransformer("middle_block.1", h, config.middleDepth())).output();
            h = add(middle, new ResBlock("middle_block.2", h, ch)).output();
            block = 0;
            for (int level = config.levels() - 1; level >= 0; level--) {
                int out = config.channels(level);
                for (int r = 0; r <= config.numResBlocks(); r++, block++) {
                    Tensor skip = skips.pop();
                    Tensor cat = alloc(dtype, B, ch + skip.shape().dim(1), H, W);
                    upSkips.add(skip);
                    upConcat.add(cat);
                    dConcatA.add(alloc(dtype, B, ch, H, W));
                    dConcatB.add(alloc(dtype, skip.shape().dims()));
                    // a null entry in `up` marks "concatenate the next skip here"
                    up.add(null);
                    h = add(up, new ResBlock("output_blocks." + block + ".0", cat, out)).output();
                    ch = out;
                    int slot = 1;
                    if (config.transformerDepth()[level] > 0) {
                        h = add(up, new SpatialTransformer("output_blocks." + block + "." + slot++, h, config.transformerDepth()[level])).output();
                    }
                    if (level > 0 && r == config.numResBlocks()) {
                        h = add(up, new Upsample("output_blocks." + block + "." + slot + ".conv", h)).output();
                        H *= 2;
                        W *= 2;
                    }
                }
            }
            outNormG = param("out.0.weight");
            outNormB = param("out.0.bias");
            outConvW = param("out.2.weight");
            outConvB = param("out.2.bias");
            outNorm = alloc(dtype, B, ch, height, width);
            outMean = alloc(DType.F32, (long) B * NormOps.GROUPS);
            outRstd = alloc(DType.F32, (long) B * NormOps.GROUPS);
            outConvP = conv(Conv2dParams.same3x3(B, ch, height, width, config.outChannels()));
            output = alloc(dtype, B, config.outChannels(), height, width);
            dOutNorm = alloc(dtype, B, ch, height, width);
            discard(ch);
            dLatents = alloc(dtype, B, config.inChannels(), height, width);
            // one gradient buffer per activation that feeds a module (module outputs, conv_in's output, the concats)
            grad.put(hIn, alloc(dtype, hIn.shape().dims()));
            for (List<Module> list : List.of(down, middle, up)) {
                for (Module m : list) if (m != null) grad.put(m.output(), alloc(dtype, m.output().shape().dims()));
            }
            for (Tensor cat : upConcat) grad.put(cat, alloc(dtype, cat.shape().dims()));
            adapters.checkAllUsed("unet");
            zeroGradients();
            workspace = device.allocate(Math.max(workspaceBytes, 16));
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private static <M extends Module> M add(List<Module> list, M m) {
        list.add(m);
        return m;
    }

    private Tensor param(String name) {
        Tensor t = params.get(name);
        if (t == null) throw new IllegalArgumentException("unet: no parameter " + name);
        return t;
    }

    private Tensor alloc(DType type, long... dims) {
        Tensor t = Tensor.allocate(device, type, dims);
        owned.add(t);
        return t;
    }

    private Conv2dParams conv(Conv2dParams p) {
        workspaceBytes = Math.max(workspaceBytes, Conv2dOps.workspaceBytes(p));
        return p;
    }

    /** The conv {@code layer} (weight, bias) with geometry p, LoCon-adapted where the adapters say. */
    private AdaptedConv adaptedConv(String layer, Conv2dParams p) {
        AdaptedConv c = new AdaptedConv("unet " + layer, param(layer + ".weight"), param(layer + ".bias"), p, adapters.at(layer + ".weight"), this::alloc);
        workspaceBytes = Math.max(workspaceBytes, c.workspaceBytes());
        return c;
    }

    /**
     * The Linear {@code layer} over {@code rows} rows, LoRA-adapted where the adapters say; with
     * {@code formsGradients} (attention and feed-forward) it forms F32 weight / bias gradients in Linear-gradient mode.
     */
    private AdaptedLinear linear(String layer, boolean bias, long rows, boolean formsGradients) {
        Tensor w = param(layer + ".weight"), b = bias ? param(layer + ".bias") : null;
        boolean g = formsGradients && adapters.linearGradients();
        return new AdaptedLinear("unet " + layer, w, b, g ? gradFor(layer + ".weight", w) : null, g && bias ? gradFor(layer + ".bias", b) : null,
                adapters.at(layer + ".weight"), rows, this::alloc);
    }

    public UNetConfig config() {
        return config;
    }

    /**
     * The predicted noise (B, out channels, h, w) for latents (B, in channels, h, w), timesteps F32 (B)
     * (fractional allowed) and context (B, T, context width), all in the UNet's dtype except timesteps.
     * Returns the UNet's own output tensor, overwritten by the next call.
     */
    public Tensor forward(Tensor latents, Tensor timesteps, Tensor context) {
        check("latents", latents, dtype, batch, config.inChannels(), height, width);
        check("timesteps", timesteps, DType.F32, batch);
        check("context", context, dtype, batch, contextTokens, config.contextDim());
        contextIn = context;
        forwardDone = false;
        ShapeOps.timestepEmbedding(tSinusoid, timesteps);   // [cos | sin], shift 0, as SD
        LinearOps.forward(tHidden, tSinusoid, timeW1, timeB1);
        ActivationOps.forward(ActivationOps.Kind.SILU, tAct, tHidden);
        LinearOps.forward(temb, tAct, timeW2, timeB2);
        ActivationOps.forward(ActivationOps.Kind.SILU, tembAct, temb);

        Conv2dOps.forward(hIn, latents, convInW, convInB, workspace, convInP);
        for (Module m : down) m.forward();
        for (Module m : middle) m.forward();
        int skip = 0;
        Tensor h = middle.getLast().output();
        for (Module m : up) {
            if (m == null) {
                ShapeOps.concatChannels(upConcat.get(skip), h, upSkips.get(skip));
                skip++;
                continue;
            }
            m.forward();
            h = m.output();
        }
        NormOps.groupnormForward(outNorm, outMean, outRstd, h, outNormG, outNormB, NormOps.GROUPS, NormOps.EPS, true);
        Conv2dOps.forward(output, outNorm, outConvW, outConvB, workspace, outConvP);
        forwardDone = true;
        return output;
    }

    /**
     * Backward of the last {@link #forward} for dOut (B, out channels, h, w): returns d loss / d latents
     * (the UNet's own tensor, overwritten by the next call) and adds ({@code +=}) F32 gradients of every
     * attention and feed-forward Linear (to_q, to_k, to_v, to_out.0, ff.net.0.proj, ff.net.2) into
     * {@link #gradients()}. Everything else (convs, norms, the time embedding, emb_layers, the context) is
     * frozen: no gradient is formed for it; the timestep branch does not depend on the latents and is skipped.
     * The context must be unchanged since the forward (cross-attention's k and v weight gradients read it).
     */
    public Tensor backward(Tensor dOut) {
        return backward(dOut, null);
    }

    /**
     * {@link #backward(Tensor)}, and with {@code dContext} (B, T, context width) not null also d loss / d context
     * ({@code =}), which a trained text encoder's backward takes.
     */
    public Tensor backward(Tensor dOut, Tensor dContext) {
        if (!forwardDone) throw new IllegalStateException("unet: backward before forward");
        check("dOut", dOut, dtype, output.shape().dims());
        if (dContext != null) {
            check("dContext", dContext, dtype, batch, contextTokens, config.contextDim());
            BasicOps.fill(dContext, 0f);
        }
        this.dContext = dContext;
        for (Tensor g : grad.values()) BasicOps.fill(g, 0f);
        Tensor h = up.getLast().output();
        Conv2dOps.backwardInput(dOutNorm, dOut, outConvW, workspace, outConvP);
        NormOps.groupnormBackward(grad.get(h), discards.get(h.shape().dim(1))[0], discards.get(h.shape().dim(1))[1], dOutNorm, h, outNormG, outNormB, outMean, outRstd,
                NormOps.GROUPS, true);
        int skip = upConcat.size();
        for (int i = up.size() - 1; i >= 0; i--) {
            Module m = up.get(i);
            if (m == null) {   // h_prev, skip -> cat: split the concat's gradient
                skip--;
                Tensor cat = upConcat.get(skip), da = dConcatA.get(skip), db = dConcatB.get(skip);
                ShapeOps.concatChannelsBackward(da, db, grad.get(cat));
                Tensor prev = previousOutput(i);
                BasicOps.add(grad.get(prev), grad.get(prev), da);
                Tensor gs = grad.get(upSkips.get(skip));
                BasicOps.add(gs, gs, db);
                continue;
            }
            m.backward(grad.get(m.output()), grad.get(m.input()));
        }
        for (int i = middle.size() - 1; i >= 0; i--) middle.get(i).backward(grad.get(middle.get(i).output()), grad.get(middle.get(i).input()));
        for (int i = down.size() - 1; i >= 0; i--) down.get(i).backward(grad.get(down.get(i).output()), grad.get(down.get(i).input()));
        Conv2dOps.backwardInput(dLatents, grad.get(hIn), convInW, workspace, convInP);
        return dLatents;
    }

    /** The output of the module before position i of {@code up} (the middle block's output before the first). */
    private Tensor previousOutput(int i) {
        for (int j = i - 1; j >= 0; j--) if (up.get(j) != null) return up.get(j).output();
        return middle.getLast().output();
    }

    private final Map<Long, Tensor[]> discards = new java.util.HashMap<>();

    /** Discarded (weight, bias) gradient buffers (C) of a frozen norm, shared by all norms of C channels; allocated at construction. */
    private Tensor[] discard(long channels) {
        return discards.computeIfAbsent(channels, k -> new Tensor[] {alloc(dtype, k), alloc(dtype, k)});
    }

    /** F32 gradients of every attention and feed-forward Linear weight and bias, by {@link UNetLayout} name. */
    public Map<String, Tensor> gradients() {
        return java.util.Collections.unmodifiableMap(gradients);
    }

    public void zeroGradients() {
        for (Tensor g : gradients.values()) BasicOps.fill(g, 0f);
    }

    private Tensor gradFor(String name, Tensor param) {
        Tensor t = alloc(DType.F32, param.shape().dims());
        gradients.put(name, t);
        return t;
    }

    /** gx += dx. */
    private static void accumulate(Tensor gx, Tensor dx) {
        BasicOps.add(gx, gx, dx);
    }

    private static void check(String what, Tensor t, DType type, long... dims) {
        if (t.dtype() != type || !t.shape().equals(dev.sumi.tensor.Shape.of(dims))) {
            throw new IllegalArgumentException("unet: " + what + " must be " + type + " " + dev.sumi.tensor.Shape.of(dims) + ", not " + t);
        }
    }

    /** h (B, C, N) += e_b[c] for every pixel; eStride 0 broadcasts one e. */
    private void addPerChannel(Tensor h, Tensor e, long eStride) {
        ImageTokenGemms.addPerChannel(device, h, e, eStride, ones);
    }

    // ---- modules ------------------------------------------------------------------------------------

    private interface Module {
        void forward();

        Tensor output();

        Tensor input();

        /** d loss / d input += the gradient through this module of dOut (d loss / d output); Linear gradients +=. */
        void backward(Tensor dOut, Tensor dInput);
    }

    /** ResBlock: in_layers (GroupNorm+SiLU, conv 3x3), + emb_layers (SiLU, Linear), out_layers (GroupNorm+SiLU, conv 3x3), + skip. */
    private final class ResBlock implements Module {
        final Tensor x;                                   // (B, Cin, H, W) input (another module's output)
        final Tensor n1g, n1b, n2g, n2b;
        final AdaptedConv c1, c2, sc;                     // in_layers.2, out_layers.3, skip_connection (null without)
        final AdaptedLinear emb;                          // emb_layers.1
        final Tensor a1, mean1, rstd1;                    // (B, Cin, H, W), F32 (B*32) x2
        final Tensor h1;                                  // (B, Cout, H, W) conv1 + emb
        final Tensor e;                                   // (B, Cout) the timestep projection
        final Tensor a2, mean2, rstd2;                    // (B, Cout, H, W), F32 (B*32) x2
        final Tensor h2;                                  // (B, Cout, H, W) conv2
        final Tensor skip;                                // (B, Cout, H, W) the 1x1 skip conv's output, or null
        final Tensor out;                                 // (B, Cout, H, W)
        final Tensor dE;                                  // (B, Cout) d loss / d e, only when emb_layers is adapted

        ResBlock(String prefix, Tensor x, int cout) {
            this.x = x;
            int B = batch, cin = (int) x.shape().dim(1), H = (int) x.shape().dim(2), W = (int) x.shape().dim(3);
            n1g = param(prefix + ".in_layers.0.weight");
            n1b = param(prefix + ".in_layers.0.bias");
            n2g = param(prefix + ".out_layers.0.weight");
            n2b = param(prefix + ".out_layers.0.bias");
            c1 = adaptedConv(prefix + ".in_layers.2", Conv2dParams.same3x3(B, cin, H, W, cout));
            c2 = adaptedConv(prefix + ".out_layers.3", Conv2dParams.same3x3(B, cout, H, W, cout));
            sc = cin != cout ? adaptedConv(prefix + ".skip_connection", Conv2dParams.pointwise(B, cin, H, W, cout)) : null;
            emb = linear(prefix + ".emb_layers.1", true, B, false);
            a1 = alloc(dtype, B, cin, H, W);
            mean1 = alloc(DType.F32, (long) B * NormOps.GROUPS);
            rstd1 = alloc(DType.F32, (long) B * NormOps.GROUPS);
            h1 = alloc(dtype, B, cout, H, W);
            e = alloc(dtype, B, cout);
            a2 = alloc(dtype, B, cout, H, W);
            mean2 = alloc(DType.F32, (long) B * NormOps.GROUPS);
            rstd2 = alloc(DType.F32, (long) B * NormOps.GROUPS);
            h2 = alloc(dtype, B, cout, H, W);
            skip = sc != null ? alloc(dtype, B, cout, H, W) : null;
            out = alloc(dtype, B, cout, H, W);
            dE = emb.trains() ? alloc(dtype, B, cout) : null;
            dA = alloc(dtype, B, cout, H, W);
            dH = alloc(dtype, B, cout, H, W);
            dx = alloc(dtype, B, cin, H, W);
            dxa = alloc(dtype, B, cin, H, W);
            dIn = discard(cin);
            dMid = discard(cout);
        }

        final Tensor dA, dH;       // (B, Cout, H, W) scratch
        final Tensor dx, dxa;      // (B, Cin, H, W) scratch
        final Tensor[] dIn, dMid;  // discarded norm parameter gradients

        @Override
        public Tensor input() {
            return x;
        }

        @Override
        public void backward(Tensor dOut, Tensor gx) {
            if (sc != null) {
                sc.backward(dx, dOut, x, null);
                accumulate(gx, dx);
            } else {
                accumulate(gx, dOut);
            }
            c2.backward(dA, dOut, a2, workspace);                                    // d / d a2
            NormOps.groupnormBackward(dH, dMid[0], dMid[1], dA, h1, n2g, n2b, mean2, rstd2, NormOps.GROUPS, true);   // d / d h1
            // h1 = conv1 + e: e depends on the timesteps only; its gradient is formed only for a LoRA on emb_layers
            if (dE != null) {
                ImageTokenGemms.sumPerChannel(device, dE, dH, ones);
                emb.backward(null, dE, tembAct);
            }
            c1.backward(dxa, dH, a1, workspace);                                     // d / d a1
            NormOps.groupnormBackward(dx, dIn[0], dIn[1], dxa, x, n1g, n1b, mean1, rstd1, NormOps.GROUPS, true);
            accumulate(gx, dx);
        }

        @Override
        public void forward() {
            NormOps.groupnormForward(a1, mean1, rstd1, x, n1g, n1b, NormOps.GROUPS, NormOps.EPS, true);
            c1.forward(h1, a1, workspace);
            emb.forward(e, tembAct);
            addPerChannel(h1, e, e.shape().dim(1));
            NormOps.groupnormForward(a2, mean2, rstd2, h1, n2g, n2b, NormOps.GROUPS, NormOps.EPS, true);   // dropout: identity
            c2.forward(h2, a2, workspace);
            if (sc != null) {
                sc.forward(skip, x, null);
                BasicOps.add(out, skip, h2);
            } else {
                BasicOps.add(out, x, h2);
            }
        }

        @Override
        public Tensor output() {
            return out;
        }
    }

    /** One BasicTransformerBlock's parameters and saved activations; t* are (B, N, C), c* (B, T, C). */
    private final class TransformerBlock {
        final Tensor ln1w, ln1b, ln2w, ln2b, ln3w, ln3b;
        final AdaptedLinear q1, k1, v1, o1, q2, k2, v2, o2, f1, f2;   // attn1, attn2 to_q/k/v/out.0, ff.net.0.proj, ff.net.2
        final Tensor ln1, m1, r1, q1o, k1o, v1o, att1, lse1, x1;   // after attn1 + residual: x1
        final Tensor ln2, m2, r2, q2o, k2o, v2o, att2, lse2, x2;   // k2o, v2o (B, T, C)
        final Tensor ln3, m3, r3, ff1, geglu, x3;                  // ff1 (B, N, 8C), geglu (B, N, 4C)
        final AttentionParams selfP, crossP;

        TransformerBlock(String b, int C, int N) {
            long B = batch, T = contextTokens, rows = B * N;
            ln1w = param(b + ".norm1.weight");
            ln1b = param(b + ".norm1.bias");
            ln2w = param(b + ".norm2.weight");
            ln2b = param(b + ".norm2.bias");
            ln3w = param(b + ".norm3.weight");
            ln3b = param(b + ".norm3.bias");
            q1 = linear(b + ".attn1.to_q", false, rows, true);
            k1 = linear(b + ".attn1.to_k", false, rows, true);
            v1 = linear(b + ".attn1.to_v", false, rows, true);
            o1 = linear(b + ".attn1.to_out.0", true, rows, true);
            q2 = linear(b + ".attn2.to_q", false, rows, true);
            k2 = linear(b + ".attn2.to_k", false, B * T, true);
            v2 = linear(b + ".attn2.to_v", false, B * T, true);
            o2 = linear(b + ".attn2.to_out.0", true, rows, true);
            f1 = linear(b + ".ff.net.0.proj", true, rows, true);
            f2 = linear(b + ".ff.net.2", true, rows, true);
            int heads = config.heads(C);
            if (C % heads != 0) throw new IllegalArgumentException("unet: " + C + " channels do not split into " + heads + " heads");
            selfP = AttentionParams.packed(batch, heads, N, N, C / heads, false);
            crossP = AttentionParams.packed(batch, heads, N, contextTokens, C / heads, false);
            ln1 = alloc(dtype, B, N, C);
            m1 = alloc(DType.F32, B * N);
            r1 = alloc(DType.F32, B * N);
            q1o = alloc(dtype, B, N, C);
            k1o = alloc(dtype, B, N, C);
            v1o = alloc(dtype, B, N, C);
            att1 = alloc(dtype, B, N, C);
            lse1 = alloc(DType.F32, selfP.rows());
            x1 = alloc(dtype, B, N, C);
            ln2 = alloc(dtype, B, N, C);
            m2 = alloc(DType.F32, B * N);
            r2 = alloc(DType.F32, B * N);
            q2o = alloc(dtype, B, N, C);
            k2o = alloc(dtype, B, T, C);
            v2o = alloc(dtype, B, T, C);
            att2 = alloc(dtype, B, N, C);
            lse2 = alloc(DType.F32, crossP.rows());
            x2 = alloc(dtype, B, N, C);
            ln3 = alloc(dtype, B, N, C);
            m3 = alloc(DType.F32, B * N);
            r3 = alloc(DType.F32, B * N);
            ff1 = alloc(dtype, B, N, 8L * C);
            geglu = alloc(dtype, B, N, 4L * C);
            x3 = alloc(dtype, B, N, C);
        }

        /**
         * s.dRes: d loss / d x3 on entry, d loss / d x (the block's input) on exit; trained gradients +=;
         * d loss / d context += into dContext when it is wanted.
         */
        void backward(Tensor x, Scratch s) {
            // x3 = x2 + ff(ln3(x2))
            f2.backward(s.dGeglu, s.dRes, geglu);
            ActivationOps.gegluBackward(s.dFf1, s.dGeglu, ff1);
            f1.backward(s.dA, s.dFf1, ln3);
            NormOps.layernormBackward(s.dB, s.dLn[0], s.dLn[1], s.dA, x2, ln3w, m3, r3);
            BasicOps.add(s.dRes, s.dRes, s.dB);                                          // d / d x2
            // x2 = x1 + to_out(attention(q(ln2(x1)), k(context), v(context)))
            o2.backward(s.dA, s.dRes, att2);
            AttentionOps.backward(s.dq, s.dk2, s.dv2, s.delta, s.dA, att2, lse2, q2o, k2o, v2o, crossP);
            q2.backward(s.dA, s.dq, ln2);
            Tensor dc = dContext == null ? null : dContextPart;
            k2.backward(dc, s.dk2, contextIn);
            if (dc != null) BasicOps.add(dContext, dContext, dc);
            v2.backward(dc, s.dv2, contextIn);
            if (dc != null) BasicOps.add(dContext, dContext, dc);
            NormOps.layernormBackward(s.dB, s.dLn[0], s.dLn[1], s.dA, x1, ln2w, m2, r2);
            BasicOps.add(s.dRes, s.dRes, s.dB);                                          // d / d x1
            // x1 = x + to_out(attention(q(ln1(x)), k(ln1(x)), v(ln1(x))))
            o1.backward(s.dA, s.dRes, att1);
            AttentionOps.backward(s.dq, s.dk, s.dv, s.delta, s.dA, att1, lse1, q1o, k1o, v1o, selfP);
            q1.backward(s.dA, s.dq, ln1);
            k1.backward(s.dB, s.dk, ln1);
            BasicOps.add(s.dA, s.dA, s.dB);
            v1.backward(s.dB, s.dv, ln1);
            BasicOps.add(s.dA, s.dA, s.dB);                                              // d / d ln1
            NormOps.layernormBackward(s.dB, s.dLn[0], s.dLn[1], s.dA, x, ln1w, m1, r1);
            BasicOps.add(s.dRes, s.dRes, s.dB);                                          // d / d x
        }

        /** x3 = block(x), proj: (B, N, C) scratch. */
        void forward(Tensor x, Tensor proj) {
            NormOps.layernormForward(ln1, m1, r1, x, ln1w, ln1b, NormOps.EPS);
            q1.forward(q1o, ln1);
            k1.forward(k1o, ln1);
            v1.forward(v1o, ln1);
            AttentionOps.forward(att1, lse1, q1o, k1o, v1o, selfP);
            o1.forward(proj, att1);
            BasicOps.add(x1, x, proj);
            NormOps.layernormForward(ln2, m2, r2, x1, ln2w, ln2b, NormOps.EPS);
            q2.forward(q2o, ln2);
            k2.forward(k2o, contextIn);
            v2.forward(v2o, contextIn);
            AttentionOps.forward(att2, lse2, q2o, k2o, v2o, crossP);
            o2.forward(proj, att2);
            BasicOps.add(x2, x1, proj);
            NormOps.layernormForward(ln3, m3, r3, x2, ln3w, ln3b, NormOps.EPS);
            f1.forward(ff1, ln3);
            ActivationOps.geglu(geglu, ff1);
            f2.forward(proj, geglu);
            BasicOps.add(x3, x2, proj);
        }
    }

    /** A SpatialTransformer's backward scratch: (B, N, C) unless noted. */
    private final class Scratch {
        final Tensor dRes, dA, dB, dq, dk, dv;
        final Tensor dk2, dv2;          // (B, T, C)
        final Tensor dFf1, dGeglu;      // (B, N, 8C), (B, N, 4C)
        final Tensor delta;             // F32 (B * heads * N)
        final Tensor[] dLn;             // discarded LayerNorm parameter gradients (C)

        Scratch(int C, int N, int heads) {
            long B = batch;
            dRes = alloc(dtype, B, N, C);
            dA = alloc(dtype, B, N, C);
            dB = alloc(dtype, B, N, C);
            dq = alloc(dtype, B, N, C);
            dk = alloc(dtype, B, N, C);
            dv = alloc(dtype, B, N, C);
            dk2 = alloc(dtype, B, contextTokens, C);
            dv2 = alloc(dtype, B, contextTokens, C);
            dFf1 = alloc(dtype, B, N, 8L * C);
            dGeglu = alloc(dtype, B, N, 4L * C);
            delta = alloc(DType.F32, B * heads * N);
            dLn = discard(C);
        }
    }

    /** SpatialTransformer: GroupNorm (eps 1e-6), proj_in, transformer blocks, proj_out, + x. */
    private final class SpatialTransformer implements Module {
        static final float EPS = 1e-6f;   // LDM's Normalize / diffusers' Transformer2DModel norm
        final Tensor x;                   // (B, C, H, W)
        final Tensor ng, nb, inW, inB, outW, outB;   // inW, outW viewed as (C, C)
        final ProjectionLora inLora, outLora;         // or null
        final Tensor gn, gnMean, gnRstd;  // (B, C, H, W), F32 (B*32) x2
        final Tensor tokens;              // (B, N, C) proj_in's output
        final Tensor proj;                // (B, N, C) scratch
        final TransformerBlock[] blocks;
        final Tensor out;                 // (B, C, H, W)

        SpatialTransformer(String prefix, Tensor x, int depth) {
            this.x = x;
            int B = batch, C = (int) x.shape().dim(1), N = (int) (x.shape().dim(2) * x.shape().dim(3));
            ng = param(prefix + ".norm.weight");
            nb = param(prefix + ".norm.bias");
            inW = param(prefix + ".proj_in.weight").reshape(C, C);   // (C, C, 1, 1) conv or (C, C) Linear: same memory
            inB = param(prefix + ".proj_in.bias");
            outW = param(prefix + ".proj_out.weight").reshape(C, C);
            outB = param(prefix + ".proj_out.bias");
            int kernel = config.linearProjection() ? 0 : 1;
            LoraAdapter in = adapters.at(prefix + ".proj_in.weight"), outA = adapters.at(prefix + ".proj_out.weight");
            inLora = in == null ? null : new ProjectionLora("unet " + prefix + ".proj_in", device, in, kernel, B, C, N, UNet.this::alloc);
            outLora = outA == null ? null : new ProjectionLora("unet " + prefix + ".proj_out", device, outA, kernel, B, C, N, UNet.this::alloc);
            gn = alloc(dtype, x.shape().dims());
            gnMean = alloc(DType.F32, (long) B * NormOps.GROUPS);
            gnRstd = alloc(DType.F32, (long) B * NormOps.GROUPS);
            tokens = alloc(dtype, B, N, C);
            proj = alloc(dtype, B, N, C);
            blocks = new TransformerBlock[depth];
            for (int d = 0; d < depth; d++) blocks[d] = new TransformerBlock(prefix + ".transformer_blocks." + d, C, N);
            out = alloc(dtype, x.shape().dims());
            scratch = new Scratch(C, N, config.heads(C));
            dGn = alloc(dtype, x.shape().dims());
            dx = alloc(dtype, x.shape().dims());
            dNorm = discard(C);
        }

        final Scratch scratch;
        final Tensor dGn, dx;    // (B, C, H, W)
        final Tensor[] dNorm;

        @Override
        public Tensor input() {
            return x;
        }

        @Override
        public void backward(Tensor dOut, Tensor gx) {
            accumulate(gx, dOut);                       // the residual
            Tensor t = blocks.length == 0 ? tokens : blocks[blocks.length - 1].x3;
            ImageTokenGemms.imageGradToTokens(device, scratch.dRes, dOut, outW, 1f, 0f);   // d / d t (B, N, C)
            if (outLora != null) outLora.outBackward(scratch.dRes, dOut, t);
            for (int d = blocks.length - 1; d >= 0; d--) blocks[d].backward(d == 0 ? tokens : blocks[d - 1].x3, scratch);
            ImageTokenGemms.tokensToImage(device, dGn, scratch.dRes, inW, 0f);             // d / d gn (B, C, N)
            if (inLora != null) inLora.inBackward(dGn, scratch.dRes, gn);
            NormOps.groupnormBackward(dx, dNorm[0], dNorm[1], dGn, x, ng, nb, gnMean, gnRstd, NormOps.GROUPS, false);
            accumulate(gx, dx);
        }

        @Override
        public void forward() {
            NormOps.groupnormForward(gn, gnMean, gnRstd, x, ng, nb, NormOps.GROUPS, EPS, false);
            LinearOps.broadcastBias(tokens, inB);                                   // proj_in: a 1x1 conv that writes tokens
            ImageTokenGemms.imageToTokens(device, tokens, gn, inW, 1f, 1f);
            if (inLora != null) inLora.inForward(tokens, gn);
            Tensor t = tokens;
            for (TransformerBlock b : blocks) {
                b.forward(t, proj);
                t = b.x3;
            }
            BasicOps.scale(out, x, 1f);      // out = x (the residual), exact
            addPerChannel(out, outB, 0);     // + proj_out's bias
            ImageTokenGemms.tokensToImageAdd(device, out, t, outW, 1f);   // + proj_out(t), written NCHW
            if (outLora != null) outLora.outForward(out, t);
        }

        @Override
        public Tensor output() {
            return out;
        }
    }

    /** Downsample: conv 3x3, stride 2, pad 1. */
    private final class Downsample implements Module {
        final Tensor x, out;
        final AdaptedConv conv;

        Downsample(String prefix, Tensor x) {
            this.x = x;
            int C = (int) x.shape().dim(1), H = (int) x.shape().dim(2), W = (int) x.shape().dim(3);
            Conv2dParams p = Conv2dParams.down3x3(batch, C, H, W, C);
            conv = adaptedConv(prefix, p);
            out = alloc(dtype, batch, C, p.hOut(), p.wOut());
            dx = alloc(dtype, x.shape().dims());
        }

        final Tensor dx;

        @Override
        public Tensor input() {
            return x;
        }

        @Override
        public void backward(Tensor dOut, Tensor gx) {
            conv.backward(dx, dOut, x, workspace);
            accumulate(gx, dx);
        }

        @Override
        public void forward() {
            conv.forward(out, x, workspace);
        }

        @Override
        public Tensor output() {
            return out;
        }
    }

    /** Upsample: nearest 2x, then conv 3x3. */
    private final class Upsample implements Module {
        final Tensor x, up, out;   // up, out (B, C, 2H, 2W)
        final AdaptedConv conv;

        Upsample(String prefix, Tensor x) {
            this.x = x;
            int C = (int) x.shape().dim(1), H = 2 * (int) x.shape().dim(2), W = 2 * (int) x.shape().dim(3);
            conv = adaptedConv(prefix, Conv2dParams.same3x3(batch, C, H, W, C));
            up = alloc(dtype, batch, C, H, W);
            out = alloc(dtype, batch, C, H, W);
            dUp = alloc(dtype, batch, C, H, W);
            dx = alloc(dtype, x.shape().dims());
        }

        final Tensor dUp, dx;

        @Override
        public Tensor input() {
            return x;
        }

        @Override
        public void backward(Tensor dOut, Tensor gx) {
            conv.backward(dUp, dOut, up, workspace);
            ShapeOps.upsampleNearest2xBackward(dx, dUp);
            accumulate(gx, dx);
        }

        @Override
        public void forward() {
            ShapeOps.upsampleNearest2x(up, x);
            conv.forward(out, up, workspace);
        }

        @Override
        public Tensor output() {
            return out;
        }
    }

    @Override
    public void close() {
        for (Tensor t : owned) t.close();
        owned.clear();
        if (workspace != null) workspace.close();
    }
}
