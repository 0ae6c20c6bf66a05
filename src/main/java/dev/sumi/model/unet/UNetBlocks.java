package dev.sumi.model.unet;

import dev.sumi.device.Device;
import dev.sumi.device.DeviceBuffer;
import dev.sumi.lora.AdaptedConv;
import dev.sumi.lora.AdaptedLinear;
import dev.sumi.lora.Adapters;
import dev.sumi.lora.LoraAdapter;
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

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The UNet's building blocks (LDM's ResBlock, SpatialTransformer with its BasicTransformerBlocks,
 * Downsample, Upsample) and the state they share: {@link UNet} extends this and wires them into the
 * network. Each block allocates its parameters' views, saved activations and scratch in its constructor;
 * forward and backward only write into them. Where the {@link Adapters} put a LoRA / LoCon module, a
 * layer is built adapted ({@link AdaptedLinear}, {@link AdaptedConv}, {@link ProjectionLora}). Built forward-only
 * ({@link UNetOptions#forwardOnly}), no block allocates a backward buffer: those fields stay null.
 */
abstract class UNetBlocks {
    final UNetConfig config;
    final Device device;
    final DType dtype;
    final int batch, contextTokens;
    final List<Tensor> owned = new ArrayList<>();   // every buffer the UNet frees
    final Map<String, Tensor> params;
    final Adapters adapters;
    final boolean forwardOnly;   // no backward: no gradient or backward scratch buffer anywhere
    final Map<String, Tensor> gradients = new LinkedHashMap<>();   // layout name -> F32 gradient (Linear-gradient mode)

    // set by UNet's constructor before the blocks are built (workspace after: its size is the blocks' maximum)
    Tensor tembAct;         // (B, E) silu(temb): every ResBlock's emb_layers input
    Tensor ones;            // (max H_l W_l) of 1: the rank-1 GEMMs' left factor
    Tensor dContextPart;    // (B, T, context width) one cross-attention's context gradient, scratch
    DeviceBuffer workspace;
    long workspaceBytes;
    ModuleScratch moduleScratch;   // under gradient checkpointing: where every module's internals live; else null

    // per call
    Tensor contextIn;       // the last forward's context (cross-attention k, v inputs; read by backward)
    Tensor dContext;        // the backward's context gradient (+=), or null when not wanted

    UNetBlocks(UNetConfig config, Map<String, Tensor> params, Device device, DType dtype, int batch, int contextTokens, Adapters adapters,
               boolean forwardOnly) {
        this.config = config;
        this.forwardOnly = forwardOnly;
        this.params = params;
        this.device = device;
        this.dtype = dtype;
        this.batch = batch;
        this.contextTokens = contextTokens;
        this.adapters = adapters;
        owned.addAll(params.values());
    }

    Tensor param(String name) {
        Tensor t = params.get(name);
        if (t == null) throw new IllegalArgumentException("unet: no parameter " + name);
        return t;
    }

    Tensor alloc(DType type, long... dims) {
        Tensor t = Tensor.allocate(device, type, dims);
        owned.add(t);
        return t;
    }

    /**
     * A module's internal buffer (a saved activation, a LoRA intermediate, backward scratch): its own allocation,
     * or under gradient checkpointing a place in the region all modules share. Module outputs use {@link #alloc}.
     */
    Tensor internal(DType type, long... dims) {
        return moduleScratch == null ? alloc(type, dims) : moduleScratch.carve(type, dims);
    }

    /** A module's backward scratch: as {@link #internal}, or null when built forward-only. */
    Tensor backwardScratch(DType type, long... dims) {
        return forwardOnly ? null : internal(type, dims);
    }

    /** Called first by every module's constructor: its internals overlay the previous module's in the shared region. */
    void beginModule() {
        if (moduleScratch != null) moduleScratch.beginModule();
    }

    Conv2dParams conv(Conv2dParams p) {
        workspaceBytes = Math.max(workspaceBytes, Conv2dOps.workspaceBytes(p));
        return p;
    }

    /** The conv {@code layer} (weight, bias) with geometry p, LoCon-adapted where the adapters say. */
    AdaptedConv adaptedConv(String layer, Conv2dParams p) {
        AdaptedConv c = new AdaptedConv("unet " + layer, param(layer + ".weight"), param(layer + ".bias"), p, adapters.at(layer + ".weight"), this::internal,
                this::backwardScratch);
        workspaceBytes = Math.max(workspaceBytes, c.workspaceBytes());
        return c;
    }

    /**
     * The Linear {@code layer} over {@code rows} rows, LoRA-adapted where the adapters say; with
     * {@code formsGradients} (attention and feed-forward) it forms F32 weight / bias gradients in Linear-gradient mode.
     */
    AdaptedLinear linear(String layer, boolean bias, long rows, boolean formsGradients) {
        Tensor w = param(layer + ".weight"), b = bias ? param(layer + ".bias") : null;
        boolean g = formsGradients && adapters.linearGradients() && !forwardOnly;
        return new AdaptedLinear("unet " + layer, w, b, g ? gradFor(layer + ".weight", w) : null, g && bias ? gradFor(layer + ".bias", b) : null,
                adapters.at(layer + ".weight"), rows, this::internal, this::backwardScratch);
    }

    final Map<Long, Tensor[]> discards = new java.util.HashMap<>();

    /**
     * Discarded (weight, bias) gradient buffers (C) of a frozen norm, shared by all norms of C channels; allocated at
     * construction; null when built forward-only.
     */
    Tensor[] discard(long channels) {
        if (forwardOnly) return null;
        return discards.computeIfAbsent(channels, k -> new Tensor[] {alloc(dtype, k), alloc(dtype, k)});
    }

    Tensor gradFor(String name, Tensor param) {
        Tensor t = alloc(DType.F32, param.shape().dims());
        gradients.put(name, t);
        return t;
    }

    /** gx += dx. */
    static void accumulate(Tensor gx, Tensor dx) {
        BasicOps.add(gx, gx, dx);
    }

    /** h (B, C, N) += e_b[c] for every pixel; eStride 0 broadcasts one e. */
    void addPerChannel(Tensor h, Tensor e, long eStride) {
        ImageTokenGemms.addPerChannel(device, h, e, eStride, ones);
    }

    // ---- modules ------------------------------------------------------------------------------------

    interface Module {
        void forward();

        Tensor output();

        Tensor input();

        /** d loss / d input += the gradient through this module of dOut (d loss / d output); Linear gradients +=. */
        void backward(Tensor dOut, Tensor dInput);
    }

    /** ResBlock: in_layers (GroupNorm+SiLU, conv 3x3), + emb_layers (SiLU, Linear), out_layers (GroupNorm+SiLU, conv 3x3), + skip. */
    final class ResBlock implements Module {
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
            beginModule();
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
            a1 = internal(dtype, B, cin, H, W);
            mean1 = internal(DType.F32, (long) B * NormOps.GROUPS);
            rstd1 = internal(DType.F32, (long) B * NormOps.GROUPS);
            h1 = internal(dtype, B, cout, H, W);
            e = internal(dtype, B, cout);
            a2 = internal(dtype, B, cout, H, W);
            mean2 = internal(DType.F32, (long) B * NormOps.GROUPS);
            rstd2 = internal(DType.F32, (long) B * NormOps.GROUPS);
            h2 = internal(dtype, B, cout, H, W);
            skip = sc != null ? internal(dtype, B, cout, H, W) : null;
            out = alloc(dtype, B, cout, H, W);
            dE = emb.trains() ? backwardScratch(dtype, B, cout) : null;
            dA = backwardScratch(dtype, B, cout, H, W);
            dH = backwardScratch(dtype, B, cout, H, W);
            dx = backwardScratch(dtype, B, cin, H, W);
            dxa = backwardScratch(dtype, B, cin, H, W);
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
    final class TransformerBlock {
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
            ln1 = internal(dtype, B, N, C);
            m1 = internal(DType.F32, B * N);
            r1 = internal(DType.F32, B * N);
            q1o = internal(dtype, B, N, C);
            k1o = internal(dtype, B, N, C);
            v1o = internal(dtype, B, N, C);
            att1 = internal(dtype, B, N, C);
            lse1 = internal(DType.F32, selfP.rows());
            x1 = internal(dtype, B, N, C);
            ln2 = internal(dtype, B, N, C);
            m2 = internal(DType.F32, B * N);
            r2 = internal(DType.F32, B * N);
            q2o = internal(dtype, B, N, C);
            k2o = internal(dtype, B, T, C);
            v2o = internal(dtype, B, T, C);
            att2 = internal(dtype, B, N, C);
            lse2 = internal(DType.F32, crossP.rows());
            x2 = internal(dtype, B, N, C);
            ln3 = internal(dtype, B, N, C);
            m3 = internal(DType.F32, B * N);
            r3 = internal(DType.F32, B * N);
            ff1 = internal(dtype, B, N, 8L * C);
            geglu = internal(dtype, B, N, 4L * C);
            x3 = internal(dtype, B, N, C);
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
    final class Scratch {
        final Tensor dRes, dA, dB, dq, dk, dv;
        final Tensor dk2, dv2;          // (B, T, C)
        final Tensor dFf1, dGeglu;      // (B, N, 8C), (B, N, 4C)
        final Tensor delta;             // F32 (B * heads * N)
        final Tensor[] dLn;             // discarded LayerNorm parameter gradients (C)

        Scratch(int C, int N, int heads) {
            long B = batch;
            dRes = internal(dtype, B, N, C);
            dA = internal(dtype, B, N, C);
            dB = internal(dtype, B, N, C);
            dq = internal(dtype, B, N, C);
            dk = internal(dtype, B, N, C);
            dv = internal(dtype, B, N, C);
            dk2 = internal(dtype, B, contextTokens, C);
            dv2 = internal(dtype, B, contextTokens, C);
            dFf1 = internal(dtype, B, N, 8L * C);
            dGeglu = internal(dtype, B, N, 4L * C);
            delta = internal(DType.F32, B * heads * N);
            dLn = discard(C);
        }
    }

    /** SpatialTransformer: GroupNorm (eps 1e-6), proj_in, transformer blocks, proj_out, + x. */
    final class SpatialTransformer implements Module {
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
            beginModule();
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
            inLora = in == null ? null : new ProjectionLora("unet " + prefix + ".proj_in", device, in, kernel, B, C, N, UNetBlocks.this::internal,
                    UNetBlocks.this::backwardScratch);
            outLora = outA == null ? null : new ProjectionLora("unet " + prefix + ".proj_out", device, outA, kernel, B, C, N, UNetBlocks.this::internal,
                    UNetBlocks.this::backwardScratch);
            gn = internal(dtype, x.shape().dims());
            gnMean = internal(DType.F32, (long) B * NormOps.GROUPS);
            gnRstd = internal(DType.F32, (long) B * NormOps.GROUPS);
            tokens = internal(dtype, B, N, C);
            proj = internal(dtype, B, N, C);
            blocks = new TransformerBlock[depth];
            for (int d = 0; d < depth; d++) blocks[d] = new TransformerBlock(prefix + ".transformer_blocks." + d, C, N);
            out = alloc(dtype, x.shape().dims());
            scratch = forwardOnly ? null : new Scratch(C, N, config.heads(C));
            dGn = backwardScratch(dtype, x.shape().dims());
            dx = backwardScratch(dtype, x.shape().dims());
            dNorm = discard(C);
        }

        final Scratch scratch;   // null when built forward-only, as the d* buffers
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
    final class Downsample implements Module {
        final Tensor x, out;
        final AdaptedConv conv;

        Downsample(String prefix, Tensor x) {
            beginModule();
            this.x = x;
            int C = (int) x.shape().dim(1), H = (int) x.shape().dim(2), W = (int) x.shape().dim(3);
            Conv2dParams p = Conv2dParams.down3x3(batch, C, H, W, C);
            conv = adaptedConv(prefix, p);
            out = alloc(dtype, batch, C, p.hOut(), p.wOut());
            dx = backwardScratch(dtype, x.shape().dims());
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
    final class Upsample implements Module {
        final Tensor x, up, out;   // up, out (B, C, 2H, 2W)
        final AdaptedConv conv;

        Upsample(String prefix, Tensor x) {
            beginModule();
            this.x = x;
            int C = (int) x.shape().dim(1), H = 2 * (int) x.shape().dim(2), W = 2 * (int) x.shape().dim(3);
            conv = adaptedConv(prefix, Conv2dParams.same3x3(batch, C, H, W, C));
            up = internal(dtype, batch, C, H, W);
            out = alloc(dtype, batch, C, H, W);
            dUp = backwardScratch(dtype, batch, C, H, W);
            dx = backwardScratch(dtype, x.shape().dims());
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
}
