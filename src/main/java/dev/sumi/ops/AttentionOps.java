package dev.sumi.ops;

import dev.sumi.device.CudaDevice;
import dev.sumi.device.Device;
import dev.sumi.device.Dim3;
import dev.sumi.device.HostDevice;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.Arrays;

/**
 * Scaled dot-product attention, {@code out = softmax(Q K^T * scale [+ causal mask]) V}, flash style
 * (cuda-kernels/attention.cu): tiled over keys with an online softmax, so no Tq x Tk matrix exists
 * anywhere; the forward saves only the log-sum-exp per (b, h, query) for the backward. Layouts and
 * strides are in {@link AttentionParams}; q, k, v, out (and their gradients) share one storage type
 * (F32, F16 or BF16), lse and delta are F32 [B, H, Tq]. Every output is written with {@code =};
 * results are deterministic (no atomics).
 *
 * <p>Three implementations keep that contract: tensor-core kernels (attention_mma.cu; F16 and BF16 on a
 * GPU of compute capability 8.0 or above), scalar ones (attention.cu; F32, older GPUs) and, on the host
 * device, a materialised computation ({@link HostAttention}). {@link #kernelsFor} picks.
 */
public final class AttentionOps {
    private AttentionOps() {}

    /** Threads per block of the tiled kernels, and their tiles (must match attention.cu). */
    static final int THREADS = 128;
    static final int FWD_BR = 16, FWD_BC = 32, BWD_BR = 16, BWD_BC = 16;

    /** The two kernel families; both take the same arguments. */
    enum Kernels {
        /** attention.cu: float tiles, scalar FMA loops; every storage type and device. */
        SCALAR,
        /** attention_mma.cu: mma.sync on 16-bit tiles; F16/BF16 only (the host build runs it emulated, slowly). */
        MMA,
        /**
         * {@link HostAttention}: host GEMMs around the barrier-free kernels of attention_rows.cu; the host
         * device only, where the tiled kernels' barriers run as fibers (seconds per self-attention at T = 1024).
         */
        MATERIALIZED
    }

    /** Threads per block and rows (queries or keys) per block of the tensor-core kernels (attention_mma.cu). */
    static final int MMA_THREADS = 128, MMA_ROWS = 64;

    /** The host: materialised; tensor cores for F16/BF16 on sm_80+ (mma.sync m16n8k16 with BF16 needs 8.0); scalar kernels elsewhere. */
    static Kernels kernelsFor(Device d, DType t) {
        if (d instanceof HostDevice) return Kernels.MATERIALIZED;
        boolean halfType = t == DType.F16 || t == DType.BF16;
        return halfType && d instanceof CudaDevice c && c.computeCapability()[0] >= 8 ? Kernels.MMA : Kernels.SCALAR;
    }

    /** The head-dim class in a tensor-core kernel's name (attention_mma.cu's SUMI_ATTN_MMA_STAMP). */
    static String mmaHeadDimClass(int headDim) {
        return headDim <= 64 ? "d64" : headDim <= 96 ? "d96" : "d160";
    }

    /** Dynamic shared memory of the tensor-core kernels: two [64][16 * ceil(D / 16) + 8] tiles of 16-bit elements. */
    public static int mmaSharedBytes(int headDim) {
        return 2 * MMA_ROWS * (16 * ceilDiv(headDim, 16) + 8) * 2;
    }

    /** Dynamic shared memory of attention_fwd: Q, O [BR][D], K|V [BC][D], S [BR][BC], m, l, alpha [BR], as floats. */
    public static int forwardSharedBytes(int headDim) {
        return 4 * (2 * FWD_BR * headDim + FWD_BC * headDim + FWD_BR * FWD_BC + 3 * FWD_BR);
    }

    /** Dynamic shared memory of attention_bwd_dkdv and _dq: Q, dO [BR][D], K, V [BC][D], P, dS [BR][BC], lse, delta [BR]. */
    public static int backwardSharedBytes(int headDim) {
        return 4 * (2 * BWD_BR * headDim + 2 * BWD_BC * headDim + 2 * BWD_BR * BWD_BC + 2 * BWD_BR);
    }

    /**
     * out = softmax(q k^T * scale) v; lse[b, h, i] = log sum_j exp(scale * q_i . k_j) (natural log,
     * over the visible keys). out: [B, Tq, H, D] (p.o strides); lse: F32, B*H*Tq elements.
     */
    public static void forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, AttentionParams p) {
        forward(out, lse, q, k, v, p, kernelsFor(out.device(), storageType("forward", out, q, k, v)));
    }

    /** {@link #forward} with the kernel family chosen by the caller (tests run both on the host). */
    static void forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, AttentionParams p, Kernels kernels) {
        DType t = storageType("forward", out, q, k, v);
        check("forward", p, out, lse, null, q, k, v);
        distinct("forward", out, q, k, v);
        checkKernels(kernels, t, out.device());
        if (kernels == Kernels.MATERIALIZED) {
            HostAttention.forward((HostDevice) out.device(), out, lse, q, k, v, p);
            return;
        }
        String s = t.kernelSuffix();
        Device d = out.device();
        int bh = p.batch() * p.heads();
        if (kernels == Kernels.MMA) {
            d.launch("attention_fwd_mma_" + mmaHeadDimClass(p.headDim()) + "_" + s, Dim3.of(ceilDiv(p.queries(), MMA_ROWS), bh), Dim3.of(MMA_THREADS),
                    mmaSharedBytes(p.headDim()), args(p, out, lse, q, k, v));
        } else {
            d.launch("attention_fwd_" + s, Dim3.of(ceilDiv(p.queries(), FWD_BR), bh), Dim3.of(THREADS),
                    forwardSharedBytes(p.headDim()), args(p, out, lse, q, k, v));
        }
    }

    /**
     * dq = d loss / d q, dk, dv (all {@code =}, in the layouts of q, k, v) from dout (layout of out),
     * the forward's out and lse, and q, k, v. {@code delta} is caller-provided F32 scratch of B*H*Tq
     * elements; it receives rowsum(dout * out), FlashAttention-2's precomputed D_i.
     */
    public static void backward(Tensor dq, Tensor dk, Tensor dv, Tensor delta, Tensor dout, Tensor out, Tensor lse,
                                Tensor q, Tensor k, Tensor v, AttentionParams p) {
        backward(dq, dk, dv, delta, dout, out, lse, q, k, v, p, kernelsFor(dq.device(), storageType("backward", dq, dk, dv, dout, out, q, k, v)));
    }

    /** {@link #backward} with the kernel family chosen by the caller (tests run both on the host). */
    static void backward(Tensor dq, Tensor dk, Tensor dv, Tensor delta, Tensor dout, Tensor out, Tensor lse,
                         Tensor q, Tensor k, Tensor v, AttentionParams p, Kernels kernels) {
        DType t = storageType("backward", dq, dk, dv, dout, out, q, k, v);
        check("backward", p, out, lse, delta, q, k, v);
        checkExtent("backward", "dout", dout, p.o().extent(p.batch(), p.queries(), p.heads(), p.headDim()));
        checkExtent("backward", "dq", dq, p.q().extent(p.batch(), p.queries(), p.heads(), p.headDim()));
        checkExtent("backward", "dk", dk, p.k().extent(p.batch(), p.keys(), p.heads(), p.headDim()));
        checkExtent("backward", "dv", dv, p.v().extent(p.batch(), p.keys(), p.heads(), p.headDim()));
        distinct("backward", dq, dout, out, q, k, v);
        distinct("backward", dk, dout, out, q, k, v);
        distinct("backward", dv, dout, out, q, k, v);
        checkKernels(kernels, t, dq.device());
        if (kernels == Kernels.MATERIALIZED) {
            HostAttention.backward((HostDevice) dq.device(), dq, dk, dv, delta, dout, out, lse, q, k, v, p);
            return;
        }
        String s = t.kernelSuffix();
        Device d = dq.device();
        int bh = p.batch() * p.heads();
        d.launch("attention_bwd_delta_" + s, Launch.flatGrid(p.rows()), Dim3.of(Launch.BLOCK), 0, args(p, delta, dout, out));
        if (kernels == Kernels.MMA) {
            int shared = mmaSharedBytes(p.headDim());
            d.launch("attention_bwd_dkdv_mma_" + mmaHeadDimClass(p.headDim()) + "_" + s, Dim3.of(ceilDiv(p.keys(), MMA_ROWS), bh), Dim3.of(MMA_THREADS), shared,
                    args(p, dk, dv, dout, lse, delta, q, k, v));
            d.launch("attention_bwd_dq_mma_" + mmaHeadDimClass(p.headDim()) + "_" + s, Dim3.of(ceilDiv(p.queries(), MMA_ROWS), bh), Dim3.of(MMA_THREADS), shared,
                    args(p, dq, dout, lse, delta, q, k, v));
            return;
        }
        d.launch("attention_bwd_dkdv_" + s, Dim3.of(ceilDiv(p.keys(), BWD_BC), bh), Dim3.of(THREADS), backwardSharedBytes(p.headDim()),
                args(p, dk, dv, dout, lse, delta, q, k, v));
        d.launch("attention_bwd_dq_" + s, Dim3.of(ceilDiv(p.queries(), BWD_BR), bh), Dim3.of(THREADS), backwardSharedBytes(p.headDim()),
                args(p, dq, dout, lse, delta, q, k, v));
    }

    private static void checkKernels(Kernels kernels, DType t, Device d) {
        if (kernels == Kernels.MMA && t == DType.F32) throw new IllegalArgumentException("attention: the tensor-core kernels take F16 or BF16, not F32");
        if (kernels == Kernels.MATERIALIZED && !(d instanceof HostDevice)) {
            throw new IllegalArgumentException("attention: the materialised path runs on the host device only, not " + d.name());
        }
    }

    private static Object[] args(AttentionParams p, Object... tensors) {
        Object[] scalars = p.kernelScalars();
        Object[] all = Arrays.copyOf(tensors, tensors.length + scalars.length);
        System.arraycopy(scalars, 0, all, tensors.length, scalars.length);
        return all;
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    private static DType storageType(String op, Tensor... ts) {
        DType t = ts[0].dtype();
        if (t != DType.F32 && t != DType.F16 && t != DType.BF16) throw new IllegalArgumentException("attention " + op + ": storage type " + t + " is not F32, F16 or BF16");
        for (Tensor x : ts) {
            if (x.dtype() != t) throw new IllegalArgumentException("attention " + op + ": mixed storage types " + t + " and " + x.dtype());
            if (x.device() != ts[0].device()) throw new IllegalArgumentException("attention " + op + ": tensors on different devices");
        }
        return t;
    }

    private static void check(String op, AttentionParams p, Tensor out, Tensor lse, Tensor delta, Tensor q, Tensor k, Tensor v) {
        if (p == null) throw new IllegalArgumentException("attention " + op + ": no params");
        checkExtent(op, "q", q, p.q().extent(p.batch(), p.queries(), p.heads(), p.headDim()));
        checkExtent(op, "k", k, p.k().extent(p.batch(), p.keys(), p.heads(), p.headDim()));
        checkExtent(op, "v", v, p.v().extent(p.batch(), p.keys(), p.heads(), p.headDim()));
        checkExtent(op, "out", out, p.o().extent(p.batch(), p.queries(), p.heads(), p.headDim()));
        for (Tensor stat : delta == null ? new Tensor[] {lse} : new Tensor[] {lse, delta}) {
            String name = stat == lse ? "lse" : "delta";
            if (stat.dtype() != DType.F32 || stat.numel() != p.rows()) {
                throw new IllegalArgumentException("attention " + op + ": " + name + " must be F32 with B*H*Tq = " + p.rows() + " elements, not " + stat);
            }
            if (stat.device() != out.device()) throw new IllegalArgumentException("attention " + op + ": " + name + " on another device");
        }
        if (delta != null && delta.buffer().address() == lse.buffer().address()) throw new IllegalArgumentException("attention backward: delta must not be lse");
    }

    private static void checkExtent(String op, String name, Tensor t, long extent) {
        if (t.numel() < extent) {
            throw new IllegalArgumentException("attention " + op + ": " + name + " has " + t.numel() + " elements, its strides reach element " + (extent - 1) + " (" + t + ")");
        }
    }

    /** An output must not overlap an input (checked on byte ranges; slices of one buffer may sit side by side). */
    private static void distinct(String op, Tensor output, Tensor... inputs) {
        long a0 = output.buffer().address(), a1 = a0 + output.bytes();
        for (Tensor in : inputs) {
            long b0 = in.buffer().address(), b1 = b0 + in.bytes();
            if (a0 < b1 && b0 < a1) throw new IllegalArgumentException("attention " + op + ": an output overlaps an input (" + output + ", " + in + ")");
        }
    }
}
