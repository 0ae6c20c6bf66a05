package dev.sumi.model.vae;

import dev.sumi.device.Device;
import dev.sumi.device.DeviceBuffer;
import dev.sumi.device.GemmParams;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.LdmComponent;
import dev.sumi.model.WeightLoader;
import dev.sumi.ops.BasicOps;
import dev.sumi.ops.Conv2dOps;
import dev.sumi.ops.Conv2dParams;
import dev.sumi.ops.NormOps;
import dev.sumi.ops.ShapeOps;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The LDM AutoencoderKL ({@link VaeLayout} names; diffusers' AutoencoderKL) as a forward-only network
 * over the op library, for a fixed batch of B images of H x W pixels (multiples of f = 2^(levels-1)).
 *
 * <pre>
 * GN = GroupNorm(32, eps 1e-6), GN+ = GN then SiLU (fused), conv = 3x3 pad 1 unless noted, 1x1 = pointwise conv
 *
 * res(x)   = sc(x) + conv2(GN+(conv1(GN+(x))))         sc = nin_shortcut (1x1) when channels change, else identity
 * attn(x)  = x + proj_out(v softmax(q^T k / sqrt(C))^T)  q, k, v = 1x1(GN(x)) (B, C, P = h*w): one head over the pixels
 * mid(x)   = res(attn(res(x)))                           block_1, attn_1, block_2
 *
 * encode: image (B, 3, H, W)
 *   x = conv_in(image)
 *   for level i: x = res(x) x numResBlocks; unless last: x = conv_s2(pad(x, (0, 1, 0, 1)))   (H, W halve)
 *   x = conv_out(GN+(mid(x)))                              (B, 2z, h, w)
 *   mean, logvar = quant_conv(x) rows [0, z), [z, 2z)      (B, z, h, w) each, unscaled
 * decode: latents (B, z, h, w) (unscaled: divide by scalingFactor first)
 *   x = conv_in(post_quant_conv(latents)); x = mid(x)
 *   for level i from the deepest: x = res(x) x (numResBlocks + 1); unless level 0: x = conv(upsample_nearest_2x(x))
 *   image = conv_out(GN+(x))                               (B, 3, H, W)
 * </pre>
 *
 * <p>The mid-block attention is computed as two batched GEMMs around a row softmax of the full (B, P, P)
 * score matrix (diffusers' AttnProcessor does the same), not with {@link dev.sumi.ops.AttentionOps}: its
 * head dim would be C (512 for every real VAE, above {@code AttentionParams.MAX_HEAD_DIM} = 160), and the
 * flash kernels want the head dim contiguous, while q, k, v here are NCHW (the channel stride is P), so
 * they would need transposes. In NCHW the two GEMMs need none: S = q^T k and out = v S^T read q, k, v and
 * write out in place. The score matrix is P^2 per image (64 MB at a 64x64 latent in F32, 1 GB at 128x128).
 *
 * <p>Parameters are device tensors in the activation dtype, loaded once. Every activation is one of five
 * scratch buffers per resolution (sized for the most channels that resolution sees), allocated once by the
 * constructor together with the conv workspace (one image's column matrix; the convs loop over the batch),
 * the score matrix, the outputs and the GroupNorm statistics; {@link #encode} and {@link #decode} only
 * write into them. The posterior's logvar is returned as the conv computes it: diffusers clamps it to
 * [-30, 20] in DiagonalGaussianDistribution; {@link #sample} applies that clamp.
 */
public final class Vae implements AutoCloseable {

    private record Norm(Tensor w, Tensor b) {}

    private record Conv(Tensor w, Tensor b) {}

    private record Res(int in, int out, Norm norm1, Conv conv1, Norm norm2, Conv conv2, Conv nin) {}   // nin null when in == out

    private record Attn(Norm norm, Conv q, Conv k, Conv v, Conv proj) {}

    private record Mid(Res block1, Attn attn, Res block2) {}

    private static final int SLOTS = 5;

    private final VaeConfig config;
    private final Device device;
    private final DType dtype;
    private final int batch, height, width, levels;
    private final int[] hs, ws, channels;        // per resolution r (level r): H / 2^r, W / 2^r; ch * mult[r]
    private final List<Tensor> owned = new ArrayList<>();

    // parameters
    private final Conv encIn, encOut, quantMean, quantLogvar, postQuant, decIn, decOut;
    private final Res[][] down, up;               // [level][block]
    private final Conv[] downsample, upsample;    // [level], null where absent
    private final Mid encMid, decMid;
    private final Norm encNormOut, decNormOut;

    // buffers
    private final Tensor[][] scratch;             // [resolution][slot], flat, B * maxChannels(r) * hs[r] * ws[r] each
    private final Tensor scores;                  // (B, P, P) at the deepest resolution
    private final Tensor groupMean, groupRstd;    // F32 (B * 32)
    private final DeviceBuffer workspace;         // conv column matrices, one image at a time
    private final Tensor mean, logvar;            // (B, z, h, w)
    private final Tensor image;                   // (B, 3, H, W)

    /**
     * Loads the VAE under {@code first_stage_model.} from {@code checkpoint} onto {@code device} in
     * {@code dtype}, and allocates everything for {@code batch} images of {@code height} x {@code width}.
     */
    public static Vae load(Checkpoint checkpoint, VaeConfig config, Device device, DType dtype, int batch, int height, int width) {
        return load(checkpoint, LdmComponent.VAE.prefix, config, device, dtype, batch, height, width);
    }

    public static Vae load(Checkpoint checkpoint, String prefix, VaeConfig config, Device device, DType dtype, int batch, int height, int width) {
        return WeightLoader.loadAll(checkpoint, prefix, VaeLayout.parameters(config), device, dtype,
                params -> new Vae(config, params, device, dtype, batch, height, width));
    }

    /** {@code params}: every {@link VaeLayout} name of {@code config}, in {@code dtype}; the VAE takes ownership. */
    public Vae(VaeConfig config, Map<String, Tensor> params, Device device, DType dtype, int batch, int height, int width) {
        int f = config.downscale();
        if (batch < 1 || height < f || width < f || height % f != 0 || width % f != 0) {
            throw new IllegalArgumentException("vae: batch " + batch + " of " + height + " x " + width + " (sizes must be positive multiples of " + f + ")");
        }
        this.config = config;
        this.device = device;
        this.dtype = dtype;
        this.batch = batch;
        this.height = height;
        this.width = width;
        this.levels = config.levels();
        owned.addAll(params.values());
        try {
            int L = levels, z = config.zChannels();
            int[] mult = config.chMult();
            hs = new int[L];
            ws = new int[L];
            channels = new int[L];
            for (int r = 0; r < L; r++) {
                hs[r] = height >> r;
                ws[r] = width >> r;
                channels[r] = config.ch() * mult[r];
            }
            // encoder
            encIn = conv(params, "encoder.conv_in");
            down = new Res[L][];
            downsample = new Conv[L];
            int in = config.ch();
            for (int i = 0; i < L; i++) {
                down[i] = new Res[config.numResBlocks()];
                for (int j = 0; j < config.numResBlocks(); j++) {
                    down[i][j] = res(params, "encoder.down." + i + ".block." + j, in, channels[i]);
                    in = channels[i];
                }
                if (i != L - 1) downsample[i] = conv(params, "encoder.down." + i + ".downsample.conv");
            }
            encMid = mid(params, "encoder.mid", in);
            encNormOut = norm(params, "encoder.norm_out");
            encOut = conv(params, "encoder.conv_out");
            Conv quant = conv(params, "quant_conv");   // (2z, 2z, 1, 1): rows [0, z) give the mean, [z, 2z) the logvar
            quantMean = new Conv(quant.w.view(0, z, 2L * z, 1, 1), quant.b.view(0, z));
            quantLogvar = new Conv(quant.w.view(2L * z * z, z, 2L * z, 1, 1), quant.b.view(z, z));
            postQuant = conv(params, "post_quant_conv");
            // decoder
            decIn = conv(params, "decoder.conv_in");
            in = channels[L - 1];
            decMid = mid(params, "decoder.mid", in);
            up = new Res[L][];
            upsample = new Conv[L];
            for (int i = L - 1; i >= 0; i--) {
                up[i] = new Res[config.numResBlocks() + 1];
                for (int j = 0; j <= config.numResBlocks(); j++) {
                    up[i][j] = res(params, "decoder.up." + i + ".block." + j, in, channels[i]);
                    in = channels[i];
                }
                if (i != 0) upsample[i] = conv(params, "decoder.up." + i + ".upsample.conv");
            }
            decNormOut = norm(params, "decoder.norm_out");
            decOut = conv(params, "decoder.conv_out");

            // buffers: at resolution r the encoder sees channels of levels r-1 (after a downsample) and r, the
            // decoder those of levels r+1 (after an upsample) and r; conv_in/out and the quant convs the rest
            scratch = new Tensor[L][SLOTS];
            long wsBytes = 0;
            for (int r = 0; r < L; r++) {
                int maxC = Math.max(Math.max(config.ch(), config.inChannels()), 2 * z);
                for (int j = Math.max(0, r - 1); j <= Math.min(L - 1, r + 1); j++) maxC = Math.max(maxC, channels[j]);
                for (int s = 0; s < SLOTS; s++) scratch[r][s] = alloc(dtype, (long) batch * maxC * hs[r] * ws[r]);
                wsBytes = Math.max(wsBytes, Conv2dOps.workspaceBytes(Conv2dParams.same3x3(batch, maxC, hs[r], ws[r], maxC), 1));
            }
            workspace = device.allocate(Math.max(wsBytes, 16));
            long P = (long) hs[L - 1] * ws[L - 1];
            scores = alloc(dtype, batch, P, P);
            groupMean = alloc(DType.F32, (long) batch * NormOps.GROUPS);
            groupRstd = alloc(DType.F32, (long) batch * NormOps.GROUPS);
            mean = alloc(dtype, batch, z, hs[L - 1], ws[L - 1]);
            logvar = alloc(dtype, batch, z, hs[L - 1], ws[L - 1]);
            image = alloc(dtype, batch, config.inChannels(), height, width);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private static Tensor param(Map<String, Tensor> params, String name) {
        Tensor t = params.get(name);
        if (t == null) throw new IllegalArgumentException("vae: no parameter " + name);
        return t;
    }

    private static Conv conv(Map<String, Tensor> params, String name) {
        return new Conv(param(params, name + ".weight"), param(params, name + ".bias"));
    }

    private static Norm norm(Map<String, Tensor> params, String name) {
        return new Norm(param(params, name + ".weight"), param(params, name + ".bias"));
    }

    private static Res res(Map<String, Tensor> params, String p, int in, int out) {
        return new Res(in, out, norm(params, p + ".norm1"), conv(params, p + ".conv1"), norm(params, p + ".norm2"),
                conv(params, p + ".conv2"), in == out ? null : conv(params, p + ".nin_shortcut"));
    }

    private static Mid mid(Map<String, Tensor> params, String p, int c) {
        String a = p + ".attn_1";
        return new Mid(res(params, p + ".block_1", c, c),
                new Attn(norm(params, a + ".norm"), conv(params, a + ".q"), conv(params, a + ".k"), conv(params, a + ".v"),
                        conv(params, a + ".proj_out")),
                res(params, p + ".block_2", c, c));
    }

    private Tensor alloc(DType type, long... dims) {
        Tensor t = Tensor.allocate(device, type, dims);
        owned.add(t);
        return t;
    }

    public VaeConfig config() {
        return config;
    }

    public int batch() {
        return batch;
    }

    public Device device() {
        return device;
    }

    public DType dtype() {
        return dtype;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    /** Latent height, H / f. */
    public int latentHeight() {
        return hs[levels - 1];
    }

    /** Latent width, W / f. */
    public int latentWidth() {
        return ws[levels - 1];
    }

    // ---- encode -------------------------------------------------------------------------------------

    /**
     * The posterior of {@code img} (B, 3, H, W), pixels in [-1, 1]: fills and returns {mean, logvar}, each
     * (B, z, H/f, W/f), unscaled (multiply a sample by {@link VaeConfig#scalingFactor} for the UNet). The
     * tensors are the VAE's own, overwritten by the next encode.
     */
    public Tensor[] encode(Tensor img) {
        check("image", img, batch, config.inChannels(), height, width);
        int L = levels, z = config.zChannels();
        conv3(act(0, 0, config.ch()), img, encIn, 0);
        int s = 0;
        for (int i = 0; i < L; i++) {
            for (Res b : down[i]) s = res(b, i, s);
            if (i != L - 1) {
                int c = channels[i];
                Conv2dOps.forward(act(i + 1, 0, c), act(i, s, c), downsample[i].w, downsample[i].b, workspace,
                        Conv2dParams.vaeDown3x3(batch, c, hs[i], ws[i], c));
                s = 0;
            }
        }
        s = mid(encMid, L - 1, s);
        int r = L - 1, c = channels[r], a = (s + 1) % SLOTS, b = (s + 2) % SLOTS;
        groupnorm(act(r, a, c), act(r, s, c), encNormOut, true);
        conv3(act(r, b, 2 * z), act(r, a, c), encOut, r);
        pointwise(mean, act(r, b, 2 * z), quantMean, r);
        pointwise(logvar, act(r, b, 2 * z), quantLogvar, r);
        return new Tensor[] {mean, logvar};
    }

    /**
     * out (B, z, h, w) = mean + exp(logvar / 2) * eps with eps ~ N(0, 1) drawn from {@code rng} in element
     * order, logvar clamped to [-30, 20] as in diffusers' DiagonalGaussianDistribution. A host round trip
     * (latents are small: 16K values per 512 x 512 image); out may be mean.
     */
    public static void sample(Tensor out, Tensor mean, Tensor logvar, Random rng) {
        if (!mean.shape().equals(logvar.shape()) || !mean.shape().equals(out.shape())) {
            throw new IllegalArgumentException("vae sample: shapes differ: " + out + ", " + mean + ", " + logvar);
        }
        float[] m = mean.toFloats(), lv = logvar.toFloats(), z = new float[m.length];
        for (int i = 0; i < m.length; i++) {
            double l = Math.min(20.0, Math.max(-30.0, lv[i]));
            z[i] = (float) (m[i] + Math.exp(0.5 * l) * rng.nextGaussian());
        }
        out.copyFrom(z);
    }

    // ---- decode -------------------------------------------------------------------------------------

    /**
     * The image (B, 3, H, W) of {@code latents} (B, z, H/f, W/f), unscaled (divide the UNet's latents by
     * {@link VaeConfig#scalingFactor} first). Returns the VAE's own tensor, overwritten by the next decode.
     */
    public Tensor decode(Tensor latents) {
        int L = levels, z = config.zChannels(), r = L - 1;
        check("latents", latents, batch, z, hs[r], ws[r]);
        pointwise(act(r, 0, z), latents, postQuant, r);
        conv3(act(r, 1, channels[r]), act(r, 0, z), decIn, r);
        int s = mid(decMid, r, 1);
        for (int i = L - 1; i >= 0; i--) {
            for (Res b : up[i]) s = res(b, i, s);
            if (i != 0) {
                int c = channels[i];
                ShapeOps.upsampleNearest2x(act(i - 1, 0, c), act(i, s, c));
                conv3(act(i - 1, 1, c), act(i - 1, 0, c), upsample[i], i - 1);
                s = 1;
            }
        }
        int c = channels[0], a = (s + 1) % SLOTS;
        groupnorm(act(0, a, c), act(0, s, c), decNormOut, true);
        conv3(image, act(0, a, c), decOut, 0);
        return image;
    }

    // ---- blocks -------------------------------------------------------------------------------------

    /** The ResnetBlock at resolution r on slot s; returns the slot of its output. */
    private int res(Res p, int r, int s) {
        int f0 = (s + 1) % SLOTS, f1 = (s + 2) % SLOTS, f2 = (s + 3) % SLOTS;
        Tensor x = act(r, s, p.in);
        groupnorm(act(r, f0, p.in), x, p.norm1, true);
        conv3(act(r, f1, p.out), act(r, f0, p.in), p.conv1, r);
        groupnorm(act(r, f0, p.out), act(r, f1, p.out), p.norm2, true);
        Tensor h = act(r, f2, p.out);
        conv3(h, act(r, f0, p.out), p.conv2, r);
        if (p.nin == null) {
            BasicOps.add(x, x, h);
            return s;
        }
        Tensor sc = act(r, f1, p.out);
        pointwise(sc, x, p.nin, r);
        BasicOps.add(sc, sc, h);
        return f1;
    }

    /** block_1, attn_1, block_2 at resolution r on slot s; returns the slot of the output. */
    private int mid(Mid m, int r, int s) {
        s = res(m.block1, r, s);
        attention(m.attn, r, s);
        return res(m.block2, r, s);
    }

    /** x (slot s) += proj_out(single-head self-attention over the pixels of GN(x)), in place. */
    private void attention(Attn p, int r, int s) {
        int c = channels[r], P = hs[r] * ws[r];
        int f0 = (s + 1) % SLOTS, f1 = (s + 2) % SLOTS, f2 = (s + 3) % SLOTS, f3 = (s + 4) % SLOTS;
        Tensor x = act(r, s, c), n = act(r, f0, c), q = act(r, f1, c), k = act(r, f2, c), v = act(r, f3, c);
        groupnorm(n, x, p.norm, false);
        pointwise(q, n, p.q, r);
        pointwise(k, n, p.k, r);
        pointwise(v, n, p.v, r);
        // per image, q, k, v are row-major (C, P) = column-major (P, C) with ld P; S is row-major (P, P)
        // S[i][j] = scale * sum_c q[c][i] k[c][j]: column-major S^T (P x P) = K_cm (P x C) Q_cm^T
        long img = (long) c * P, sq = (long) P * P;
        device.gemm(checked(new GemmParams(false, true, P, P, c, (float) (1 / Math.sqrt(c)), k, P, img, q, P, img,
                0f, scores, P, sq, batch)));
        BasicOps.softmaxRows(scores, scores);
        // out[c][i] = sum_j v[c][j] S[i][j]: column-major out (P x C) = S_cm^T (P x P) V_cm (P x C), S_cm = S^T
        Tensor o = n;   // GN(x) is no longer needed
        device.gemm(checked(new GemmParams(true, false, P, c, P, 1f, scores, P, sq, v, P, img, 0f, o, P, img, batch)));
        pointwise(q, o, p.proj, r);
        BasicOps.add(x, x, q);
    }

    private static GemmParams checked(GemmParams g) {
        g.validate();
        return g;
    }

    // ---- op helpers ---------------------------------------------------------------------------------

    /** Slot s of resolution r as a (B, c, hs[r], ws[r]) tensor. */
    private Tensor act(int r, int s, int c) {
        return scratch[r][s].view(0, batch, c, hs[r], ws[r]);
    }

    private void groupnorm(Tensor out, Tensor x, Norm p, boolean silu) {
        NormOps.groupnormForward(out, groupMean, groupRstd, x, p.w, p.b, NormOps.GROUPS, NormOps.EPS_VAE, silu);
    }

    private void conv3(Tensor out, Tensor x, Conv p, int r) {
        Conv2dOps.forward(out, x, p.w, p.b, workspace,
                Conv2dParams.same3x3(batch, (int) x.shape().dim(1), hs[r], ws[r], (int) out.shape().dim(1)));
    }

    private void pointwise(Tensor out, Tensor x, Conv p, int r) {
        Conv2dOps.forward(out, x, p.w, p.b, null,
                Conv2dParams.pointwise(batch, (int) x.shape().dim(1), hs[r], ws[r], (int) out.shape().dim(1)));
    }

    private void check(String what, Tensor t, long... dims) {
        if (t.dtype() != dtype || t.shape().rank() != dims.length) {
            throw new IllegalArgumentException("vae: " + what + " must be " + dtype + " " + java.util.Arrays.toString(dims) + ", not " + t);
        }
        for (int i = 0; i < dims.length; i++) {
            if (t.shape().dim(i) != dims[i]) {
                throw new IllegalArgumentException("vae: " + what + " must be " + dtype + " " + java.util.Arrays.toString(dims) + ", not " + t);
            }
        }
    }

    @Override
    public void close() {
        for (Tensor t : owned) t.close();
        owned.clear();
        if (workspace != null) workspace.close();
    }
}
