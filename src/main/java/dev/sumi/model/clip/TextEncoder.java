package dev.sumi.model.clip;

import dev.sumi.device.Device;
import dev.sumi.lora.AdaptedLinear;
import dev.sumi.lora.Adapters;
import dev.sumi.lora.LoraSite;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.WeightLoader;
import dev.sumi.ops.ActivationOps;
import dev.sumi.ops.AttentionOps;
import dev.sumi.ops.AttentionParams;
import dev.sumi.ops.BasicOps;
import dev.sumi.ops.NormOps;
import dev.sumi.ops.ShapeOps;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The CLIP text encoder as a forward and a backward over the op library, for a fixed batch of B prompts
 * of T = 77 tokens, in either checkpoint layout: HF_CLIP (transformers' CLIPTextModel; SD 1.x, SDXL's
 * first encoder) or OPEN_CLIP (OpenCLIP's TextTransformer; SD 2.x's {@code cond_stage_model.model.},
 * SDXL's {@code conditioner.embedders.1.model.}). The network is the same; OPEN_CLIP stores q, k, v stacked
 * in {@code attn.in_proj_weight} (3C, C) / {@code in_proj_bias} (3C), which the encoder uses through views
 * of row blocks 0, 1, 2, and its configs use exact gelu. SD 2.x trains with clip skip 2 (kohya's v2 path).
 *
 * <pre>
 * B = batch, T = tokens (77), C = width, H = heads, D = C / H, I = intermediate (MLP), L = layers
 *
 * x_0 = tok[ids] + pos                                          (B, T, C)   token + position embedding
 * for l in 0 .. run-1:                                          run = L - (clipSkip - 1)
 *   a   = layer_norm1(x_l)                                      (B, T, C)
 *   q, k, v = a Wq^T + bq, a Wk^T + bk, a Wv^T + bv             (B, T, C) = [B, T, H, D]
 *   o   = causal_softmax(q k^T / sqrt(D)) v                     (B, T, C)
 *   m   = x_l + o Wo^T + bo                                     (B, T, C)   residual
 *   f   = act(layer_norm2(m) W1^T + b1)                         (B, T, I)   quick_gelu or gelu
 *   x_{l+1} = m + f W2^T + b2                                   (B, T, C)   residual
 * hidden = final_layer_norm(x_run)                              (B, T, C)
 * </pre>
 *
 * clipSkip 1 is the last layer's output, 2 the penultimate's (A1111's and kohya's "clip skip": the
 * later layers are not run and final_layer_norm is applied to the earlier output, as both do).
 *
 * <p>Parameters are device tensors in the activation dtype, loaded once by their {@link TextEncoderLayout}
 * names. Every activation the backward needs, and every scratch buffer, is allocated once by the
 * constructor for (B, 77); {@link #forward} and {@link #backward} only write into them. What the backward
 * trains comes from the {@link Adapters}: LoRA modules on q, k, v, out, fc1, fc2 (their F32 gradients +=, the
 * base frozen), or F32 gradients of every Linear weight and bias of the encoder layers ({@link #gradients},
 * {@code +=}, llm.c's rule; {@link #zeroGradients} clears them), or nothing. Embeddings and layer norms are frozen.
 */
public final class TextEncoder implements AutoCloseable {

    /** One encoder layer's parameters (HF names under text_model.encoder.layers.i; OPEN_CLIP: see {@link #openClipLayer}). */
    private record Layer(Tensor ln1W, Tensor ln1B,       // (C)
                         Tensor qW, Tensor qB,           // (C, C), (C)
                         Tensor kW, Tensor kB,           // (C, C), (C)
                         Tensor vW, Tensor vB,           // (C, C), (C)
                         Tensor oW, Tensor oB,           // (C, C), (C)
                         Tensor ln2W, Tensor ln2B,       // (C)
                         Tensor fc1W, Tensor fc1B,       // (I, C), (I)
                         Tensor fc2W, Tensor fc2B) {}    // (C, I), (C)

    /** F32 gradients of one layer's Linear parameters, shapes as in {@link Layer}. */
    private record Grads(Tensor qW, Tensor qB, Tensor kW, Tensor kB, Tensor vW, Tensor vB, Tensor oW, Tensor oB,
                         Tensor fc1W, Tensor fc1B, Tensor fc2W, Tensor fc2B) {}

    /** One layer's Linears as its {@link Adapters} make them (plain, LoRA-adapted, or forming F32 gradients). */
    private record Linears(AdaptedLinear q, AdaptedLinear k, AdaptedLinear v, AdaptedLinear o, AdaptedLinear fc1, AdaptedLinear fc2) {}

    private static final Grads NO_GRADS = new Grads(null, null, null, null, null, null, null, null, null, null, null, null);

    /** What one layer's forward saves for its backward. */
    private record Saved(Tensor ln1Out, Tensor ln1Mean, Tensor ln1Rstd,   // (B, T, C), F32 (B*T) x2
                         Tensor q, Tensor k, Tensor v,                     // (B, T, C) each, [B, T, H, D]
                         Tensor attn, Tensor lse,                          // (B, T, C), F32 (B*H*T)
                         Tensor mid,                                       // (B, T, C) residual after attention
                         Tensor ln2Out, Tensor ln2Mean, Tensor ln2Rstd,   // (B, T, C), F32 (B*T) x2
                         Tensor fc1Out, Tensor actOut) {}                 // (B, T, I) pre- and post-activation

    public static final int TOKENS = 77;

    private final TextEncoderConfig config;
    private final Device device;
    private final int batch;
    private final DType dtype;
    private final ActivationOps.Kind act;
    private final AttentionParams attention;
    private final List<Tensor> owned = new ArrayList<>();

    // parameters
    private final Tensor tokenEmbedding;      // (V, C)
    private final Tensor positionEmbedding;   // (77, C)
    private final Layer[] layers;             // L
    private final Tensor finalW, finalB;      // (C)
    private final Tensor textProjection;      // OPEN_CLIP (C, P) / HF_CLIP (P, C), or null: loaded, not applied
    private final Map<String, Tensor> gradients = new LinkedHashMap<>();   // layout name -> F32 gradient
    private final Grads[] grads;              // L, NO_GRADS unless the adapters ask for Linear gradients
    private final Linears[] linears;          // L
    private final Adapters adapters;

    // activations (saved for the backward)
    private final Tensor[] residual;          // L + 1 of (B, T, C): residual[l] = x_l, the input of layer l
    private final Saved[] saved;              // L
    private final Tensor hidden;              // (B, T, C) the output
    private final Tensor finalMean, finalRstd;   // F32 (B*T)

    // scratch
    private final Tensor proj;                // (B, T, C) a projection's output before its residual add
    private final Tensor dRes;                // (B, T, C) d loss / d x_l, the residual stream's gradient
    private final Tensor dA, dB;              // (B, T, C) gradients of layer-norm outputs / attention output, and a partial
    private final Tensor dq, dk, dv;          // (B, T, C)
    private final Tensor dMlp;                // (B, T, I)
    private final Tensor delta;               // F32 (B*H*T) attention backward scratch
    private final Tensor dLnW, dLnB;          // (C) discarded layer-norm parameter gradients (they are frozen)

    private int lastRun = -1;                 // layers the last forward ran; -1 before any forward

    /**
     * Loads the encoder under {@code prefix} (e.g. {@code cond_stage_model.transformer.}) from
     * {@code checkpoint} onto {@code device} in {@code dtype}, and allocates everything for {@code batch} prompts.
     */
    public static TextEncoder load(Checkpoint checkpoint, String prefix, TextEncoderConfig config, Device device, DType dtype, int batch) {
        return load(checkpoint, prefix, config, device, dtype, batch, Adapters.LINEAR_GRADIENTS);
    }

    /** As {@link #load(Checkpoint, String, TextEncoderConfig, Device, DType, int)}, training what {@code adapters} say. */
    public static TextEncoder load(Checkpoint checkpoint, String prefix, TextEncoderConfig config, Device device, DType dtype, int batch, Adapters adapters) {
        return WeightLoader.loadAll(checkpoint, prefix, TextEncoderLayout.parameters(config), device, dtype,
                params -> new TextEncoder(config, params, device, dtype, batch, adapters));
    }

    /** As {@link #TextEncoder(TextEncoderConfig, Map, Device, DType, int, Adapters)} forming every Linear's F32 gradients. */
    public TextEncoder(TextEncoderConfig config, Map<String, Tensor> params, Device device, DType dtype, int batch) {
        this(config, params, device, dtype, batch, Adapters.LINEAR_GRADIENTS);
    }

    /**
     * {@code params}: every {@link TextEncoderLayout} name of {@code config}, in {@code dtype}; the encoder takes ownership.
     * {@code adapters}: what the backward trains (LoRA modules of the q, k, v, out and MLP Linears, full Linear gradients, or nothing).
     */
    public TextEncoder(TextEncoderConfig config, Map<String, Tensor> params, Device device, DType dtype, int batch, Adapters adapters) {
        if (config.maxPositions() != TOKENS) throw new IllegalArgumentException("text encoder: " + config.maxPositions() + " positions, expected " + TOKENS);
        if (batch < 1) throw new IllegalArgumentException("text encoder: batch " + batch);
        this.config = config;
        this.device = device;
        this.batch = batch;
        this.dtype = dtype;
        this.adapters = adapters;
        this.act = config.quickGelu() ? ActivationOps.Kind.QUICK_GELU : ActivationOps.Kind.GELU;
        this.attention = AttentionParams.packed(batch, config.heads(), TOKENS, TOKENS, config.headDim(), true);
        owned.addAll(params.values());
        try {
            long B = batch, T = TOKENS, C = config.width(), I = config.intermediate(), H = config.heads();
            int L = config.layers();
            boolean open = config.layout() == TextEncoderConfig.Layout.OPEN_CLIP;
            tokenEmbedding = param(params, open ? "token_embedding.weight" : "text_model.embeddings.token_embedding.weight");
            positionEmbedding = param(params, open ? "positional_embedding" : "text_model.embeddings.position_embedding.weight");
            finalW = param(params, open ? "ln_final.weight" : "text_model.final_layer_norm.weight");
            finalB = param(params, open ? "ln_final.bias" : "text_model.final_layer_norm.bias");
            textProjection = config.projectionDim() > 0 ? params.get(open ? "text_projection" : "text_projection.weight") : null;
            layers = new Layer[L];
            grads = new Grads[L];
            linears = new Linears[L];
            for (int l = 0; l < L; l++) {
                grads[l] = NO_GRADS;
                if (open) {
                    openClipLayer(params, l, C, I);
                    linears[l] = linears(l, true, B * T);
                    continue;
                }
                String p = "text_model.encoder.layers." + l + ".";
                layers[l] = new Layer(param(params, p + "layer_norm1.weight"), param(params, p + "layer_norm1.bias"),
                        param(params, p + "self_attn.q_proj.weight"), param(params, p + "self_attn.q_proj.bias"),
                        param(params, p + "self_attn.k_proj.weight"), param(params, p + "self_attn.k_proj.bias"),
                        param(params, p + "self_attn.v_proj.weight"), param(params, p + "self_attn.v_proj.bias"),
                        param(params, p + "self_attn.out_proj.weight"), param(params, p + "self_attn.out_proj.bias"),
                        param(params, p + "layer_norm2.weight"), param(params, p + "layer_norm2.bias"),
                        param(params, p + "mlp.fc1.weight"), param(params, p + "mlp.fc1.bias"),
                        param(params, p + "mlp.fc2.weight"), param(params, p + "mlp.fc2.bias"));
                if (adapters.linearGradients()) grads[l] = new Grads(grad(p + "self_attn.q_proj.weight", C, C), grad(p + "self_attn.q_proj.bias", C),
                        grad(p + "self_attn.k_proj.weight", C, C), grad(p + "self_attn.k_proj.bias", C),
                        grad(p + "self_attn.v_proj.weight", C, C), grad(p + "self_attn.v_proj.bias", C),
                        grad(p + "self_attn.out_proj.weight", C, C), grad(p + "self_attn.out_proj.bias", C),
                        grad(p + "mlp.fc1.weight", I, C), grad(p + "mlp.fc1.bias", I),
                        grad(p + "mlp.fc2.weight", C, I), grad(p + "mlp.fc2.bias", C));
                linears[l] = linears(l, false, B * T);
            }
            adapters.checkAllUsed("text encoder");
            residual = new Tensor[L + 1];
            for (int l = 0; l <= L; l++) residual[l] = alloc(dtype, B, T, C);
            saved = new Saved[L];
            for (int l = 0; l < L; l++) {
                saved[l] = new Saved(alloc(dtype, B, T, C), alloc(DType.F32, B * T), alloc(DType.F32, B * T),
                        alloc(dtype, B, T, C), alloc(dtype, B, T, C), alloc(dtype, B, T, C),
                        alloc(dtype, B, T, C), alloc(DType.F32, B * H * T),
                        alloc(dtype, B, T, C),
                        alloc(dtype, B, T, C), alloc(DType.F32, B * T), alloc(DType.F32, B * T),
                        alloc(dtype, B, T, I), alloc(dtype, B, T, I));
            }
            hidden = alloc(dtype, B, T, C);
            finalMean = alloc(DType.F32, B * T);
            finalRstd = alloc(DType.F32, B * T);
            proj = alloc(dtype, B, T, C);
            dRes = alloc(dtype, B, T, C);
            dA = alloc(dtype, B, T, C);
            dB = alloc(dtype, B, T, C);
            dq = alloc(dtype, B, T, C);
            dk = alloc(dtype, B, T, C);
            dv = alloc(dtype, B, T, C);
            dMlp = alloc(dtype, B, T, I);
            delta = alloc(DType.F32, B * H * T);
            dLnW = alloc(dtype, C);
            dLnB = alloc(dtype, C);
            zeroGradients();
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private static Tensor param(Map<String, Tensor> params, String name) {
        Tensor t = params.get(name);
        if (t == null) throw new IllegalArgumentException("text encoder: no parameter " + name);
        return t;
    }

    /**
     * Layer l of the OPEN_CLIP layout (transformer.resblocks.l): q, k, v weights and biases are views of
     * row blocks 0, 1, 2 of the stacked attn.in_proj_weight (3C, C) / in_proj_bias (3C) (no copies), and
     * their gradients views of one stacked F32 gradient under the in_proj name.
     */
    private void openClipLayer(Map<String, Tensor> params, int l, long C, long I) {
        String p = "transformer.resblocks." + l + ".";
        Tensor inW = param(params, p + "attn.in_proj_weight"), inB = param(params, p + "attn.in_proj_bias");
        if (inW.numel() != 3 * C * C || inB.numel() != 3 * C) {
            throw new IllegalArgumentException("text encoder: " + p + "attn.in_proj_weight/bias are " + inW.shape() + " / " + inB.shape() + ", expected [" + 3 * C + ", " + C + "] / [" + 3 * C + "]");
        }
        layers[l] = new Layer(param(params, p + "ln_1.weight"), param(params, p + "ln_1.bias"),
                inW.view(0, C, C), inB.view(0, C),
                inW.view(C * C, C, C), inB.view(C, C),
                inW.view(2 * C * C, C, C), inB.view(2 * C, C),
                param(params, p + "attn.out_proj.weight"), param(params, p + "attn.out_proj.bias"),
                param(params, p + "ln_2.weight"), param(params, p + "ln_2.bias"),
                param(params, p + "mlp.c_fc.weight"), param(params, p + "mlp.c_fc.bias"),
                param(params, p + "mlp.c_proj.weight"), param(params, p + "mlp.c_proj.bias"));
        if (!adapters.linearGradients()) return;
        Tensor gW = grad(p + "attn.in_proj_weight", 3 * C, C), gB = grad(p + "attn.in_proj_bias", 3 * C);
        grads[l] = new Grads(gW.view(0, C, C), gB.view(0, C), gW.view(C * C, C, C), gB.view(C, C),
                gW.view(2 * C * C, C, C), gB.view(2 * C, C),
                grad(p + "attn.out_proj.weight", C, C), grad(p + "attn.out_proj.bias", C),
                grad(p + "mlp.c_fc.weight", I, C), grad(p + "mlp.c_fc.bias", I),
                grad(p + "mlp.c_proj.weight", C, I), grad(p + "mlp.c_proj.bias", C));
    }

    /** Layer l's Linears over {@code rows} = B * T tokens; OpenCLIP's q, k, v are the parts of the stacked in_proj. */
    private Linears linears(int l, boolean open, long rows) {
        Layer w = layers[l];
        Grads g = grads[l];
        String p = open ? "transformer.resblocks." + l + "." : "text_model.encoder.layers." + l + ".";
        LoraSite q = open ? new LoraSite(p + "attn.in_proj_weight", 0) : LoraSite.of(p + "self_attn.q_proj.weight");
        LoraSite k = open ? new LoraSite(p + "attn.in_proj_weight", 1) : LoraSite.of(p + "self_attn.k_proj.weight");
        LoraSite v = open ? new LoraSite(p + "attn.in_proj_weight", 2) : LoraSite.of(p + "self_attn.v_proj.weight");
        LoraSite o = LoraSite.of(p + (open ? "attn.out_proj.weight" : "self_attn.out_proj.weight"));
        LoraSite fc1 = LoraSite.of(p + (open ? "mlp.c_fc.weight" : "mlp.fc1.weight"));
        LoraSite fc2 = LoraSite.of(p + (open ? "mlp.c_proj.weight" : "mlp.fc2.weight"));
        return new Linears(linear(q, w.qW, w.qB, g.qW, g.qB, rows), linear(k, w.kW, w.kB, g.kW, g.kB, rows),
                linear(v, w.vW, w.vB, g.vW, g.vB, rows), linear(o, w.oW, w.oB, g.oW, g.oB, rows),
                linear(fc1, w.fc1W, w.fc1B, g.fc1W, g.fc1B, rows), linear(fc2, w.fc2W, w.fc2B, g.fc2W, g.fc2B, rows));
    }

    private AdaptedLinear linear(LoraSite site, Tensor w, Tensor b, Tensor dW, Tensor dB, long rows) {
        return new AdaptedLinear("text encoder " + site, w, b, dW, dB, adapters.at(site), rows, this::alloc);
    }

    private Tensor alloc(DType type, long... dims) {
        Tensor t = Tensor.allocate(device, type, dims);
        owned.add(t);
        return t;
    }

    private Tensor grad(String name, long... dims) {
        Tensor t = alloc(DType.F32, dims);
        gradients.put(name, t);
        return t;
    }

    public TextEncoderConfig config() {
        return config;
    }

    public int batch() {
        return batch;
    }

    /**
     * The file's text projection ({@code text_projection} (C, P) for OPEN_CLIP, {@code text_projection.weight}
     * (P, C) for HF_CLIP), null when the config has none. Loaded for a pooled output; {@link #forward} does not use it.
     */
    public Tensor textProjection() {
        return textProjection;
    }

    /** F32 gradients of every encoder-layer Linear weight and bias, by {@link TextEncoderLayout} name (unprefixed). */
    public Map<String, Tensor> gradients() {
        return java.util.Collections.unmodifiableMap(gradients);
    }

    public void zeroGradients() {
        for (Tensor g : gradients.values()) BasicOps.fill(g, 0f);
    }

    /**
     * hidden (B, 77, C) for {@code inputIds} I32 (B, 77), with {@code clipSkip} 1 (last layer) or more
     * (that many layers from the end). Returns the encoder's own output tensor, overwritten by the next call.
     */
    public Tensor forward(Tensor inputIds, int clipSkip) {
        if (inputIds.dtype() != DType.I32 || inputIds.shape().rank() != 2 || inputIds.shape().dim(0) != batch || inputIds.shape().dim(1) != TOKENS) {
            throw new IllegalArgumentException("text encoder: input ids must be I32 (" + batch + ", " + TOKENS + "), not " + inputIds);
        }
        if (clipSkip < 1 || clipSkip > config.layers()) {
            throw new IllegalArgumentException("text encoder: clip skip " + clipSkip + " is not in 1.." + config.layers());
        }
        int run = config.layers() - (clipSkip - 1);
        ShapeOps.embedding(residual[0], inputIds, tokenEmbedding, positionEmbedding);
        for (int l = 0; l < run; l++) layerForward(residual[l + 1], saved[l], residual[l], layers[l], linears[l]);
        NormOps.layernormForward(hidden, finalMean, finalRstd, residual[run], finalW, finalB, NormOps.EPS);
        lastRun = run;
        return hidden;
    }

    /** x_out (B, T, C) = layer(x (B, T, C)), saving into s. */
    private void layerForward(Tensor xOut, Saved s, Tensor x, Layer p, Linears lin) {
        NormOps.layernormForward(s.ln1Out, s.ln1Mean, s.ln1Rstd, x, p.ln1W, p.ln1B, NormOps.EPS);
        lin.q.forward(s.q, s.ln1Out);
        lin.k.forward(s.k, s.ln1Out);
        lin.v.forward(s.v, s.ln1Out);
        AttentionOps.forward(s.attn, s.lse, s.q, s.k, s.v, attention);   // CLIP's q * D^-1/2 is the attention scale
        lin.o.forward(proj, s.attn);
        BasicOps.add(s.mid, x, proj);
        NormOps.layernormForward(s.ln2Out, s.ln2Mean, s.ln2Rstd, s.mid, p.ln2W, p.ln2B, NormOps.EPS);
        lin.fc1.forward(s.fc1Out, s.ln2Out);
        ActivationOps.forward(act, s.actOut, s.fc1Out);
        lin.fc2.forward(proj, s.actOut);
        BasicOps.add(xOut, s.mid, proj);
    }

    /**
     * Backward of the last {@link #forward} for dHidden (B, 77, C): adds the gradients its {@link Adapters} train
     * (LoRA down / up, or every Linear's W and b into {@link #gradients()}) over the layers that forward ran
     * (with clip skip, the later layers were not run and get none).
     */
    public void backward(Tensor dHidden) {
        if (lastRun < 0) throw new IllegalStateException("text encoder: backward before forward");
        if (!dHidden.shape().equals(hidden.shape()) || dHidden.dtype() != dtype) {
            throw new IllegalArgumentException("text encoder: dHidden must be " + dtype + " " + hidden.shape() + ", not " + dHidden);
        }
        int run = lastRun;
        NormOps.layernormBackward(dRes, dLnW, dLnB, dHidden, residual[run], finalW, finalMean, finalRstd);
        for (int l = run - 1; l >= 0; l--) layerBackward(l > 0, saved[l], residual[l], layers[l], linears[l]);
    }

    /**
     * dRes (B, T, C): d loss / d x_{l+1} on entry, d loss / d x_l on exit (only when {@code needInput});
     * parameter gradients into g (+=).
     */
    private void layerBackward(boolean needInput, Saved s, Tensor x, Layer p, Linears lin) {
        // x_{l+1} = m + fc2(act(fc1(ln2(m))))
        lin.fc2.backward(dMlp, dRes, s.actOut);         // dMlp (B, T, I) = d / d actOut
        ActivationOps.backward(act, dMlp, dMlp, s.fc1Out);                          // d / d fc1Out, in place
        lin.fc1.backward(dA, dMlp, s.ln2Out);           // dA = d / d ln2Out
        NormOps.layernormBackward(dB, dLnW, dLnB, dA, s.mid, p.ln2W, s.ln2Mean, s.ln2Rstd);
        BasicOps.add(dRes, dRes, dB);                                                // dRes = d / d m
        // m = x + out_proj(attention(q(ln1(x)), k(..), v(..)))
        lin.o.backward(dA, dRes, s.attn);           // dA = d / d attn
        AttentionOps.backward(dq, dk, dv, delta, dA, s.attn, s.lse, s.q, s.k, s.v, attention);
        if (!needInput) {   // the first layer: only the parameter gradients are wanted
            lin.q.backward(null, dq, s.ln1Out);
            lin.k.backward(null, dk, s.ln1Out);
            lin.v.backward(null, dv, s.ln1Out);
            return;
        }
        lin.q.backward(dA, dq, s.ln1Out);           // dA = d / d ln1Out, from q
        lin.k.backward(dB, dk, s.ln1Out);
        BasicOps.add(dA, dA, dB);                                                    // + from k
        lin.v.backward(dB, dv, s.ln1Out);
        BasicOps.add(dA, dA, dB);                                                    // + from v
        NormOps.layernormBackward(dB, dLnW, dLnB, dA, x, p.ln1W, s.ln1Mean, s.ln1Rstd);
        BasicOps.add(dRes, dRes, dB);                                                // dRes = d / d x_l
    }

    @Override
    public void close() {
        for (Tensor t : owned) t.close();
        owned.clear();
    }
}
