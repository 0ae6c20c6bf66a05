package dev.sumi.model.unet;

import dev.sumi.device.Device;
import dev.sumi.device.PlanningDevice;
import dev.sumi.lora.Adapters;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.LdmComponent;
import dev.sumi.model.WeightLoader;
import dev.sumi.nn.ParamSpec;
import dev.sumi.ops.ActivationOps;
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
 * giving d loss / d latents (and d loss / d context on request) and the gradients its {@link Adapters}
 * train: kohya's LoRA / LoCon modules (the base frozen), or the F32 gradients of every attention and
 * feed-forward Linear. The blocks are in {@link UNetBlocks}.
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
 * {@link #forward} and {@link #backward} only write into them. Activations are kept per module for the backward,
 * or with {@link UNetOptions#gradientCheckpointing} only the modules' inputs and outputs: each module's internals
 * then share one region ({@link ModuleScratch}) and the backward re-runs a module's forward before its backward.
 * With {@link UNetOptions#forwardOnly} (image generation) no backward buffer exists and {@link #backward} throws.
 */
public final class UNet extends UNetBlocks implements AutoCloseable {

    private final int height, width;
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
    // conv_in, out
    private final Tensor convInW, convInB, outNormG, outNormB, outConvW, outConvB;
    private final Conv2dParams convInP, outConvP;
    private final Tensor hIn;                      // (B, C_0, h, w)
    private final Tensor outNorm, outMean, outRstd; // (B, C_0, h, w), F32 (B*32) x2
    private final Tensor output;                   // (B, out channels, h, w)

    private boolean forwardDone;
    private Module internalsOf;   // under checkpointing: the module whose internals the shared region holds, or null
    // the backward's buffers: none (empty, null) when built forward-only
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
        return load(checkpoint, config, device, dtype, batch, height, width, contextTokens, adapters, UNetOptions.DEFAULT);
    }

    /** As {@link #load(Checkpoint, UNetConfig, Device, DType, int, int, int, int, Adapters)}, with {@code options}. */
    public static UNet load(Checkpoint checkpoint, UNetConfig config, Device device, DType dtype,
                            int batch, int height, int width, int contextTokens, Adapters adapters, UNetOptions options) {
        return WeightLoader.loadAll(checkpoint, LdmComponent.UNET.prefix, UNetLayout.parameters(config), device, dtype,
                params -> new UNet(config, params, device, dtype, batch, height, width, contextTokens, adapters, options));
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
        this(config, params, device, dtype, batch, height, width, contextTokens, adapters, UNetOptions.DEFAULT);
    }

    /** As {@link #UNet(UNetConfig, Map, Device, DType, int, int, int, int, Adapters)}, keeping activations as {@code options} say. */
    public UNet(UNetConfig config, Map<String, Tensor> params, Device device, DType dtype,
                int batch, int height, int width, int contextTokens, Adapters adapters, UNetOptions options) {
        this(config, params, device, dtype, batch, height, width, contextTokens, adapters, options.forwardOnly(),
                options.gradientCheckpointing()
                        ? moduleScratchBytes(config, params, dtype, batch, height, width, contextTokens, adapters, options.forwardOnly()) : 0);
    }

    /** Bytes of a region that holds any one module's internals, big enough to measure them all: a planning device reserves nothing. */
    private static final long MEASURING = 1L << 48;

    /**
     * The largest module's internals, found by building this UNet on a {@link PlanningDevice} (which allocates
     * nothing) with its modules laid out in one unbounded region; frees {@code params} if that fails, as the constructor does.
     */
    private static long moduleScratchBytes(UNetConfig config, Map<String, Tensor> params, DType dtype, int batch, int height, int width,
                                           int contextTokens, Adapters adapters, boolean forwardOnly) {
        try (PlanningDevice d = new PlanningDevice()) {
            Map<String, Tensor> shapes = new LinkedHashMap<>();
            for (ParamSpec p : UNetLayout.parameters(config)) shapes.put(p.name(), Tensor.allocate(d, dtype, p.shape()));
            try (UNet measured = new UNet(config, shapes, d, dtype, batch, height, width, contextTokens, adapters, forwardOnly, MEASURING)) {
                return Math.max(measured.moduleScratch.peak(), 1);
            }
        } catch (RuntimeException e) {
            for (Tensor t : params.values()) t.close();
            throw e;
        }
    }

    /**
     * {@code forwardOnly}: allocate no backward buffer. {@code scratchBytes}: the size of the region all modules share,
     * or 0 to give every module its own buffers.
     */
    private UNet(UNetConfig config, Map<String, Tensor> params, Device device, DType dtype,
                 int batch, int height, int width, int contextTokens, Adapters adapters, boolean forwardOnly, long scratchBytes) {
        if (config.admInChannels() > 0) throw new UnsupportedOperationException("unet: SDXL's label embedding (adm) is not implemented");
        int scale = 1 << (config.levels() - 1);
        if (batch < 1 || contextTokens < 1 || height < 1 || width < 1 || height % scale != 0 || width % scale != 0) {
            throw new IllegalArgumentException("unet: batch " + batch + ", latent " + height + "x" + width + ", context " + contextTokens
                    + ": sizes must be positive and h, w multiples of " + scale);
        }
        super(config, params, device, dtype, batch, contextTokens, adapters, forwardOnly);
        this.height = height;
        this.width = width;
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
            if (scratchBytes > 0) moduleScratch = new ModuleScratch(device.allocate(scratchBytes));

            dContextPart = forwardOnly ? null : alloc(dtype, B, contextTokens, config.contextDim());
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
                    if (!forwardOnly) {
                        dConcatA.add(alloc(dtype, B, ch, H, W));
                        dConcatB.add(alloc(dtype, skip.shape().dims()));
                    }
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
            if (forwardOnly) {
                dOutNorm = dLatents = null;
            } else {
                dOutNorm = alloc(dtype, B, ch, height, width);
                discard(ch);
                dLatents = alloc(dtype, B, config.inChannels(), height, width);
                // one gradient buffer per activation that feeds a module (module outputs, conv_in's output, the concats)
                grad.put(hIn, alloc(dtype, hIn.shape().dims()));
                for (List<Module> list : List.of(down, middle, up)) {
                    for (Module m : list) if (m != null) grad.put(m.output(), alloc(dtype, m.output().shape().dims()));
                }
                for (Tensor cat : upConcat) grad.put(cat, alloc(dtype, cat.shape().dims()));
            }
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
        internalsOf = moduleScratch == null ? null : up.getLast();
        NormOps.groupnormForward(outNorm, outMean, outRstd, h, outNormG, outNormB, NormOps.GROUPS, NormOps.EPS, true);
        Conv2dOps.forward(output, outNorm, outConvW, outConvB, workspace, outConvP);
        forwardDone = true;
        return output;
    }

    /**
     * Backward of the last {@link #forward} for dOut (B, out channels, h, w): returns d loss / d latents
     * (the UNet's own tensor, overwritten by the next call) and adds ({@code +=}) what the adapters train: the
     * LoRA / LoCon modules' F32 down / up gradients, or in Linear-gradient mode the F32 gradients of every
     * attention and feed-forward Linear (to_q, to_k, to_v, to_out.0, ff.net.0.proj, ff.net.2) into
     * {@link #gradients()}. The base is frozen: no gradient is formed for it; the timestep branch does not
     * depend on the latents and is skipped (unless a LoRA sits on emb_layers).
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
        if (forwardOnly) throw new IllegalStateException("unet: built forward-only (UNetOptions.forwardOnly), it has no backward");
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
            backward(m);
        }
        for (int i = middle.size() - 1; i >= 0; i--) backward(middle.get(i));
        for (int i = down.size() - 1; i >= 0; i--) backward(down.get(i));
        Conv2dOps.backwardInput(dLatents, grad.get(hIn), convInW, workspace, convInP);
        return dLatents;
    }

    /**
     * Module m's backward; under checkpointing first its forward again (from its kept input into the shared region,
     * rewriting its output with the same bits), unless the region still holds its internals.
     */
    private void backward(Module m) {
        if (moduleScratch != null && internalsOf != m) {
            m.forward();
            internalsOf = m;
        }
        m.backward(grad.get(m.output()), grad.get(m.input()));
    }

    /** The output of the module before position i of {@code up} (the middle block's output before the first). */
    private Tensor previousOutput(int i) {
        for (int j = i - 1; j >= 0; j--) if (up.get(j) != null) return up.get(j).output();
        return middle.getLast().output();
    }

    /** F32 gradients of every attention and feed-forward Linear weight and bias, by {@link UNetLayout} name. */
    public Map<String, Tensor> gradients() {
        return java.util.Collections.unmodifiableMap(gradients);
    }

    public void zeroGradients() {
        for (Tensor g : gradients.values()) BasicOps.fill(g, 0f);
    }

    private static void check(String what, Tensor t, DType type, long... dims) {
        if (t.dtype() != type || !t.shape().equals(dev.sumi.tensor.Shape.of(dims))) {
            throw new IllegalArgumentException("unet: " + what + " must be " + type + " " + dev.sumi.tensor.Shape.of(dims) + ", not " + t);
        }
    }

    @Override
    public void close() {
        for (Tensor t : owned) t.close();
        owned.clear();
        if (workspace != null) workspace.close();
        if (moduleScratch != null) moduleScratch.close();
    }
}
