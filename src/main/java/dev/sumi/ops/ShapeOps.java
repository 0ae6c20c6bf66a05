package dev.sumi.ops;

import dev.sumi.device.Dim3;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

/**
 * Nearest 2x upsampling, channel concatenation, the sinusoidal timestep embedding and CLIP's token +
 * position embedding; kernels in cuda-kernels/shape.cu, F64 reference in {@link dev.sumi.ops.ref.ShapeRef}.
 * Input gradients are written (=), embedding-table gradients accumulate (+=). No kernel here uses
 * atomics: every result, including the scatter-add of repeated token ids, is bit-reproducible.
 */
public final class ShapeOps {
    private ShapeOps() {}

    /** out (N, C, 2H, 2W) = x (N, C, H, W) with every pixel repeated 2x2 (nn.Upsample(scale_factor=2, mode="nearest")). */
    public static void upsampleNearest2x(Tensor out, Tensor x) {
        String op = "upsampleNearest2x";
        Checks.sameFloatType(op, x, out);
        long[] d = nchw(op, x);
        Checks.shape(op, "out", out, d[0], d[1], 2 * d[2], 2 * d[3]);
        launchFlat("upsample_nearest2x_forward_" + x.dtype().kernelSuffix(), x, out.numel(),
                out, x, d[0] * d[1], Checks.toInt(op, "H", d[2]), Checks.toInt(op, "W", d[3]));
    }

    /** dx (=, N x C x H x W) = the sum of each pixel's 2x2 children in dout (N, C, 2H, 2W), in float. */
    public static void upsampleNearest2xBackward(Tensor dx, Tensor dout) {
        String op = "upsampleNearest2xBackward";
        Checks.sameFloatType(op, dx, dout);
        long[] d = nchw(op, dx);
        Checks.shape(op, "dout", dout, d[0], d[1], 2 * d[2], 2 * d[3]);
        launchFlat("upsample_nearest2x_backward_" + dx.dtype().kernelSuffix(), dx, dx.numel(),
                dx, dout, d[0] * d[1], Checks.toInt(op, "H", d[2]), Checks.toInt(op, "W", d[3]));
    }

    /** out (N, Ca + Cb, *spatial) = torch.cat([a, b], dim=1) for a (N, Ca, *spatial), b (N, Cb, *spatial). */
    public static void concatChannels(Tensor out, Tensor a, Tensor b) {
        String op = "concatChannels";
        Checks.sameFloatType(op, out, a, b);
        int[] d = concatDims(op, out, a, b);
        launchFlat("concat_channels_forward_" + out.dtype().kernelSuffix(), out, out.numel(), out, a, b, d[0], d[1], d[2], (long) d[3]);
    }

    /** da (=) and db (=): the channel ranges [0, Ca) and [Ca, Ca + Cb) of dout. */
    public static void concatChannelsBackward(Tensor da, Tensor db, Tensor dout) {
        String op = "concatChannelsBackward";
        Checks.sameFloatType(op, dout, da, db);
        int[] d = concatDims(op, dout, da, db);
        launchFlat("concat_channels_backward_" + dout.dtype().kernelSuffix(), dout, dout.numel(), da, db, dout, d[0], d[1], d[2], (long) d[3]);
    }

    /** SD's timestep embedding: [cos | sin], downscale_freq_shift 0, max_period 10000 (diffusers' Timesteps(dim, True, 0)). */
    public static void timestepEmbedding(Tensor out, Tensor t) {
        timestepEmbedding(out, t, true, 0f, 10000f);
    }

    /**
     * out (N, dim) = diffusers' get_timestep_embedding(t, dim, flipSinToCos, downscaleFreqShift, 1, maxPeriod);
     * t: F32 (N), fractional timesteps allowed.
     */
    public static void timestepEmbedding(Tensor out, Tensor t, boolean flipSinToCos, float downscaleFreqShift, float maxPeriod) {
        String op = "timestepEmbedding";
        Checks.dtype(op, "t", t, DType.F32);
        Checks.sameFloatType(op, out);
        Checks.sameDevice(op, out, t);
        if (out.shape().rank() != 2 || out.shape().dim(0) != t.numel()) throw new IllegalArgumentException(op + ": out is " + out.shape() + ", expected (" + t.numel() + ", dim)");
        int N = Checks.toInt(op, "N", t.numel()), dim = Checks.toInt(op, "dim", out.shape().dim(1));
        if (dim / 2 - downscaleFreqShift == 0 && dim >= 2) throw new IllegalArgumentException(op + ": half - downscaleFreqShift is 0");
        launchFlat("timestep_embedding_" + out.dtype().kernelSuffix(), out, out.numel(),
                out, t, N, dim, flipSinToCos ? 1 : 0, downscaleFreqShift, (float) -Math.log(maxPeriod));
    }

    /**
     * out (B, T, C) = tok[ids[b, t], :] + pos[t, :]; ids: I32 (B, T); tok: (V, C); pos: (P, C) with P >= T.
     * An id outside [0, V) yields a row of NaN (the kernel cannot throw; the NaN makes it visible).
     */
    public static void embedding(Tensor out, Tensor ids, Tensor tok, Tensor pos) {
        String op = "embedding";
        Checks.sameFloatType(op, out, tok, pos);
        int[] d = embeddingDims(op, ids, tok, pos);
        Checks.shape(op, "out", out, d[0], d[1], d[2]);
        launchFlat("embedding_forward_" + out.dtype().kernelSuffix(), out, out.numel(), out, ids, tok, pos, d[0], d[1], d[2], d[3]);
    }

    /**
     * dtok (+=, V x C): scatter-add of dout's rows by ids, repeated ids added in sequence order (one
     * thread per column, no atomics, so deterministic on both devices; each += rounds to dtok's type);
     * dpos (+=, P x C): its first T rows get dout summed over the batch. Ids outside [0, V) are skipped.
     */
    public static void embeddingBackward(Tensor dtok, Tensor dpos, Tensor dout, Tensor ids) {
        String op = "embeddingBackward";
        Checks.sameFloatType(op, dout, dtok, dpos);
        int[] d = embeddingDims(op, ids, dtok, dpos);
        Checks.shape(op, "dout", dout, d[0], d[1], d[2]);
        if (dout.numel() == 0) return;
        String s = dout.dtype().kernelSuffix();
        dout.device().launch("embedding_backward_tokens_" + s, Launch.flatGrid(d[2]), Dim3.of(Launch.BLOCK), 0,
                dtok, dout, ids, d[0] * d[1], d[2], d[3]);
        launchFlat("embedding_backward_positions_" + s, dout, (long) d[1] * d[2], dpos, dout, d[0], d[1], d[2]);
    }

    /** {B, T, C, V}, checking ids (B, T) I32, tok (V, C), pos (P >= T, C). */
    private static int[] embeddingDims(String op, Tensor ids, Tensor tok, Tensor pos) {
        Checks.dtype(op, "ids", ids, DType.I32);
        Checks.sameDevice(op, tok, ids);
        if (ids.shape().rank() != 2) throw new IllegalArgumentException(op + ": ids must be (B, T), not " + ids.shape());
        if (tok.shape().rank() != 2 || pos.shape().rank() != 2 || tok.shape().dim(1) != pos.shape().dim(1)) {
            throw new IllegalArgumentException(op + ": tables must be (V, C) and (P, C), not " + tok.shape() + " and " + pos.shape());
        }
        if (pos.shape().dim(0) < ids.shape().dim(1)) throw new IllegalArgumentException(op + ": " + ids.shape().dim(1) + " tokens, " + pos.shape().dim(0) + " positions");
        int B = Checks.toInt(op, "B", ids.shape().dim(0)), T = Checks.toInt(op, "T", ids.shape().dim(1));
        Checks.toInt(op, "B * T", (long) B * T);
        return new int[] {B, T, Checks.toInt(op, "C", tok.shape().dim(1)), Checks.toInt(op, "V", tok.shape().dim(0))};
    }

    private static long[] nchw(String op, Tensor x) {
        if (x.shape().rank() != 4) throw new IllegalArgumentException(op + ": expected (N, C, H, W), not " + x.shape());
        return x.shape().dims();
    }

    /** {N, Ca, Cb, HW}, checking out (N, Ca + Cb, *s), a (N, Ca, *s), b (N, Cb, *s). */
    private static int[] concatDims(String op, Tensor out, Tensor a, Tensor b) {
        long[] o = out.shape().dims(), da = a.shape().dims(), db = b.shape().dims();
        if (o.length < 2 || da.length != o.length || db.length != o.length || da[0] != o[0] || db[0] != o[0] || da[1] + db[1] != o[1]) {
            throw new IllegalArgumentException(op + ": cannot concatenate " + a.shape() + " and " + b.shape() + " into " + out.shape());
        }
        long hw = 1;
        for (int i = 2; i < o.length; i++) {
            if (da[i] != o[i] || db[i] != o[i]) throw new IllegalArgumentException(op + ": spatial dims differ: " + a.shape() + ", " + b.shape() + ", " + out.shape());
            hw = Math.multiplyExact(hw, o[i]);
        }
        return new int[] {Checks.toInt(op, "N", o[0]), Checks.toInt(op, "Ca", da[1]), Checks.toInt(op, "Cb", db[1]), Checks.toInt(op, "HW", hw)};
    }

    private static void launchFlat(String kernel, Tensor on, long n, Object... args) {
        if (n == 0) return;
        on.device().launch(kernel, Launch.flatGrid(n), Dim3.of(Launch.BLOCK), 0, args);
    }
}
