package dev.sumi.ops;

import dev.sumi.device.Dim3;
import dev.sumi.device.GemmParams;
import dev.sumi.tensor.Tensor;

/**
 * Linear layers, y[M, N] = x[M, K] W[N, K]^T + b[N], on (..., K) inputs flattened to M rows:
 * the products are GEMMs ({@link dev.sumi.device.Device#gemm}), the bias is kernels of cuda-kernels/linear.cu.
 * x, W, b, y and dy share one float dtype; the parameter gradients dW and db have it or are F32.
 * Nothing is allocated.
 */
public final class LinearOps {
    private LinearOps() {}

    /**
     * y (M, N) = x (M, K) W (N, K)^T + b (N); b may be null. The bias is broadcast into y first and the
     * GEMM adds x W^T with beta = 1, so y is rounded once and read once (no pass after the GEMM).
     */
    public static void forward(Tensor y, Tensor x, Tensor w, Tensor b) {
        String op = "linear.forward";
        int n = check(op, w), k = (int) w.shape().dim(1);
        int m = Checks.rows(op, "x", x, k);
        if (Checks.rows(op, "y", y, n) != m) throw new IllegalArgumentException(op + ": y " + y.shape() + " and x " + x.shape() + " differ in rows");
        sameType(op, w, x, y);
        float beta = 0;
        if (b != null) {
            Checks.shape(op, "b", b, n);
            sameType(op, w, b);
            if (m > 0 && n > 0) {
                long count = (long) m * n;
                y.device().launch("bias_broadcast_" + y.dtype().kernelSuffix(), Launch.flatGrid(count), Dim3.of(Launch.BLOCK), 0, y, b, (long) m, (long) n);
            }
            beta = 1;
        }
        // column-major Y^T (N x M) = W (N x K, W stored (N, K) read transposed) X^T (K x M) + beta Y^T
        gemm(GemmParams.of(true, false, n, m, k, 1f, w, k, x, k, beta, y, n));
    }

    /**
     * y (M, N) = b (N) in every row ({@code =}): the bias step of {@link #forward} alone, for callers that
     * run their own GEMM onto y with beta = 1 (the UNet's proj_in, a 1x1 conv read through a transpose).
     */
    public static void broadcastBias(Tensor y, Tensor b) {
        String op = "linear.broadcastBias";
        Checks.floatType(op, "y", y);
        int n = Checks.toInt(op, "N", b.numel());
        Checks.shape(op, "b", b, n);
        int m = Checks.rows(op, "y", y, n);
        sameType(op, y, b);
        if (m > 0 && n > 0) {
            y.device().launch("bias_broadcast_" + y.dtype().kernelSuffix(), Launch.flatGrid((long) m * n), Dim3.of(Launch.BLOCK), 0, y, b, (long) m, (long) n);
        }
    }

    /**
     * Backward of {@link #forward}: dx (M, K) = dy (M, N) W (N, K) (=); dW (N, K) += dy^T x; db (N) +=
     * column sums of dy (float accumulation). dW and db may be null (frozen), dx may be null (first layer).
     */
    public static void backward(Tensor dx, Tensor dw, Tensor db, Tensor dy, Tensor x, Tensor w) {
        String op = "linear.backward";
        int n = check(op, w), k = (int) w.shape().dim(1);
        int m = Checks.rows(op, "x", x, k);
        if (Checks.rows(op, "dy", dy, n) != m) throw new IllegalArgumentException(op + ": dy " + dy.shape() + " and x " + x.shape() + " differ in rows");
        sameType(op, w, x, dy);
        Checks.sameDevice(op, w, dx, dw, db, dy, x);
        if (dx != null) backwardInput(dx, dy, w);
        if (dw != null) {
            Checks.shape(op, "dW", dw, n, k);
            Checks.gradType(op, "dW", dw, w.dtype());
            // column-major dW^T (K x N) += x^T (K x M) dy (M x N)
            gemm(GemmParams.of(false, true, k, n, m, 1f, x, k, dy, n, 1f, dw, k));
        }
        if (db != null) biasGrad(db, dy);
    }

    /** The input gradient alone, for a frozen layer: dx (M, K) = dy (M, N) W (N, K) (=). */
    public static void backwardInput(Tensor dx, Tensor dy, Tensor w) {
        String op = "linear.backwardInput";
        int n = check(op, w), k = (int) w.shape().dim(1);
        int m = Checks.rows(op, "dy", dy, n);
        if (Checks.rows(op, "dx", dx, k) != m) throw new IllegalArgumentException(op + ": dx " + dx.shape() + " and dy " + dy.shape() + " differ in rows");
        sameType(op, w, dx, dy);
        // column-major dx^T (K x M) = W^T (K x N, W read as stored) dy^T (N x M)
        gemm(GemmParams.of(false, false, k, m, n, 1f, w, k, dy, n, 0f, dx, k));
    }

    /** db (N) += sum over the M rows of dy (M, N), in float; db has dy's dtype or F32. */
    public static void biasGrad(Tensor db, Tensor dy) {
        String op = "linear.biasGrad";
        Checks.floatType(op, "dy", dy);
        long n = db.numel();
        Checks.shape(op, "db", db, n);
        int m = Checks.rows(op, "dy", dy, n);
        Checks.gradType(op, "db", db, dy.dtype());
        if (m == 0 || n == 0) return;
        String kernel = "bias_grad_" + dy.dtype().kernelSuffix() + (db.dtype() != dy.dtype() ? "_f32" : "");
        db.device().launch(kernel, Dim3.of((int) ((n + 31) / 32)), new Dim3(32, BIAS_GRAD_ROWS, 1), BIAS_GRAD_ROWS * 33 * Float.BYTES, db, dy, (long) m, n);
    }

    /** linear.cu BIAS_GRAD_ROWS: the block's y extent; the kernel's shared partials are (8, 33) floats. */
    private static final int BIAS_GRAD_ROWS = 8;

    static int check(String op, Tensor w) {
        Checks.floatType(op, "W", w);
        if (w.shape().rank() != 2) throw new IllegalArgumentException(op + ": W " + w.shape() + " must be (out, in)");
        return Math.toIntExact(w.shape().dim(0));
    }

    static void sameType(String op, Tensor first, Tensor... rest) {
        for (Tensor t : rest) {
            if (t.dtype() != first.dtype()) throw new IllegalArgumentException(op + ": mixed dtypes " + first.dtype() + " and " + t.dtype());
        }
        Checks.sameDevice(op, first, rest);
    }

    /** Skips empty products, which cuBLAS accepts but which touch nothing (beta = 1 leaves C as it is). */
    static void gemm(GemmParams p) {
        if (p.m() == 0 || p.n() == 0) return;
        if (p.k() == 0 && p.beta() == 1f) return;
        p.c().device().gemm(p);
    }
}
