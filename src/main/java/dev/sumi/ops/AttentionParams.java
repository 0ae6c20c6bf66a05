package dev.sumi.ops;

/**
 * Everything an attention launch needs besides its tensors, validated once (flash-attention's
 * {@code Flash_fwd_params} as a Java record): sizes, one int64 stride per axis of each tensor, and the
 * precomputed softmax scale.
 *
 * <p>Layouts: q (and dq) is [B, Tq, H, D], k, v (and dk, dv) are [B, Tk, H, D], out (and dout) is
 * [B, Tq, H, D], each strided: element (b, t, h, d) of q lies at {@code b*q.batch + t*q.row + h*q.head + d}
 * (the head-dim axis is always contiguous). A gradient has the layout of its tensor. The [B, T, H*D]
 * output of a projection is {@link Strides#packed}; the q part of a fused [B, T, 3*H*D] projection is
 * {@code Strides(T*3*H*D, 3*H*D, D)} over a view starting at element 0 (k at H*D, v at 2*H*D). lse and
 * delta are contiguous F32 [B, H, Tq].
 *
 * <p>The kernels receive these values as scalar arguments (the kernel manifest has no struct
 * parameters) and rebuild one C struct from them; scalars need no device buffer, so a launch
 * allocates and uploads nothing.
 *
 * @param batch B
 * @param heads H
 * @param queries Tq
 * @param keys Tk (equal to Tq when causal)
 * @param headDim D, 1..{@link #MAX_HEAD_DIM}
 * @param q strides of q and dq
 * @param k strides of k and dk
 * @param v strides of v and dv
 * @param o strides of out and dout
 * @param scale the factor on Q K^T, usually 1 / sqrt(D)
 * @param causal query i sees keys j <= i only (the text encoder)
 */
public record AttentionParams(int batch, int heads, int queries, int keys, int headDim,
                              Strides q, Strides k, Strides v, Strides o, float scale, boolean causal) {

    /** Largest head dim the kernels' shared-memory tiles are sized for (SD: 40, 64, 80, 160). */
    public static final int MAX_HEAD_DIM = 160;

    /** Element strides of the batch, row (token) and head axes. */
    public record Strides(long batch, long row, long head) {
        public Strides {
            if (batch < 0 || row < 0 || head < 0) throw new IllegalArgumentException("attention: negative stride in " + this);
        }

        /** A contiguous [B, T, H, D] (= [B, T, H*D]) tensor. */
        public static Strides packed(int tokens, int heads, int headDim) {
            long rowStride = Math.multiplyExact((long) heads, headDim);
            return new Strides(Math.multiplyExact(rowStride, tokens), rowStride, headDim);
        }

        /** Index of the last element of a [batch, tokens, heads, headDim] layout, plus one. */
        public long extent(int batch, int tokens, int heads, int headDim) {
            return Math.addExact(Math.addExact(Math.addExact(Math.multiplyExact(batch - 1L, this.batch),
                    Math.multiplyExact(tokens - 1L, row)), Math.multiplyExact(heads - 1L, head)), headDim);
        }
    }

    public AttentionParams {
        if (batch < 1 || heads < 1 || queries < 1 || keys < 1) {
            throw new IllegalArgumentException("attention: sizes must be positive: B " + batch + ", H " + heads + ", Tq " + queries + ", Tk " + keys);
        }
        if (headDim < 1 || headDim > MAX_HEAD_DIM) throw new IllegalArgumentException("attention: head dim " + headDim + " is not in 1.." + MAX_HEAD_DIM);
        if ((long) batch * heads > 65535) throw new IllegalArgumentException("attention: B * H = " + (long) batch * heads + " exceeds 65535 (grid y)");
        if (causal && queries != keys) throw new IllegalArgumentException("attention: causal needs Tq == Tk, not " + queries + " and " + keys);
        if (!(Float.isFinite(scale) && scale != 0)) throw new IllegalArgumentException("attention: scale " + scale + " must be finite and non-zero");
        if (q == null || k == null || v == null || o == null) throw new IllegalArgumentException("attention: missing strides");
        // overflow of any index is caught here, once
        q.extent(batch, queries, heads, headDim);
        o.extent(batch, queries, heads, headDim);
        k.extent(batch, keys, heads, headDim);
        v.extent(batch, keys, heads, headDim);
    }

    /** Contiguous [B, T, H, D] q, k, v and out, scale 1 / sqrt(D). */
    public static AttentionParams packed(int batch, int heads, int queries, int keys, int headDim, boolean causal) {
        Strides sq = Strides.packed(queries, heads, headDim), sk = Strides.packed(keys, heads, headDim);
        return new AttentionParams(batch, heads, queries, keys, headDim, sq, sk, sk, sq, (float) (1 / Math.sqrt(headDim)), causal);
    }

    public AttentionParams withStrides(Strides q, Strides k, Strides v, Strides o) {
        return new AttentionParams(batch, heads, queries, keys, headDim, q, k, v, o, scale, causal);
    }

    public AttentionParams withScale(float scale) {
        return new AttentionParams(batch, heads, queries, keys, headDim, q, k, v, o, scale, causal);
    }

    /** Elements of lse and delta: B * H * Tq. */
    public long rows() {
        return (long) batch * heads * queries;
    }

    public long qIndex(int b, int t, int h) {
        return b * q.batch + t * q.row + h * q.head;
    }

    public long kIndex(int b, int t, int h) {
        return b * k.batch + t * k.row + h * k.head;
    }

    public long vIndex(int b, int t, int h) {
        return b * v.batch + t * v.row + h * v.head;
    }

    public long oIndex(int b, int t, int h) {
        return b * o.batch + t * o.row + h * o.head;
    }

    /** The scalar kernel arguments, in the order of the kernels' SUMI_ATTN_PARAMS. */
    Object[] kernelScalars() {
        return new Object[] {batch, heads, queries, keys, headDim,
                q.batch, q.row, q.head, k.batch, k.row, k.head, v.batch, v.row, v.head, o.batch, o.row, o.head,
                scale, causal ? 1 : 0};
    }
}
