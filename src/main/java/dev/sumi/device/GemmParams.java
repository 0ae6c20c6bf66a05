package dev.sumi.device;

import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

/**
 * One strided-batched GEMM with cuBLAS {@code cublasGemmStridedBatchedEx} semantics, F32 compute:
 * for every batch i, {@code C_i = alpha * op(A_i) * op(B_i) + beta * C_i}, all matrices column-major,
 * op(X) = X or X^T. op(A) is m x k, op(B) is k x n, C is m x n. With beta == 0, C is not read.
 * A and B have the same dtype (F32, F16 or BF16); C has A's dtype or F32.
 *
 * <p>Row-major callers use the usual identity: row-major {@code Y[M,N] = X[M,K] W[N,K]^T} is the
 * column-major {@code Y^T = W X^T}, i.e. {@code gemm(transA=T, transB=N, m=N, n=M, k=K, A=W, lda=K, B=X, ldb=K, C=Y, ldc=N)}.
 */
public record GemmParams(
        boolean transA, boolean transB,
        int m, int n, int k,
        float alpha,
        Tensor a, long lda, long strideA,   // a: rows(op) x cols stored column-major, elements of a.dtype()
        Tensor b, long ldb, long strideB,
        float beta,
        Tensor c, long ldc, long strideC,
        int batchCount) {

    /** A single, unbatched GEMM. */
    public static GemmParams of(boolean transA, boolean transB, int m, int n, int k,
                                float alpha, Tensor a, long lda, Tensor b, long ldb, float beta, Tensor c, long ldc) {
        return new GemmParams(transA, transB, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);
    }

    /**
     * Checks types, leading dimensions and that every element touched lies inside its tensor,
     * so that no device (the host one least of all) reads or writes out of bounds.
     */
    public void validate() {
        if (m < 0 || n < 0 || k < 0 || batchCount < 1) {
            throw new IllegalArgumentException("gemm: bad sizes m=" + m + " n=" + n + " k=" + k + " batch=" + batchCount);
        }
        DType at = a.dtype(), bt = b.dtype(), ct = c.dtype();
        if (at != bt) throw new IllegalArgumentException("gemm: A is " + at + " but B is " + bt + " (they must match)");
        if (!at.isFloatingPoint()) throw new IllegalArgumentException("gemm: unsupported input type " + at);
        if (ct != at && ct != DType.F32) throw new IllegalArgumentException("gemm: C must be " + at + " or F32, not " + ct);
        long aRows = transA ? k : m, aCols = transA ? m : k;
        long bRows = transB ? n : k, bCols = transB ? k : n;
        checkOperand("A", a, aRows, aCols, lda, strideA);
        checkOperand("B", b, bRows, bCols, ldb, strideB);
        checkOperand("C", c, m, n, ldc, strideC);
    }

    private void checkOperand(String name, Tensor t, long rows, long cols, long ld, long stride) {
        if (ld < Math.max(1, rows)) {
            throw new IllegalArgumentException("gemm: ld" + name.toLowerCase() + "=" + ld + " is less than the " + rows + " rows of " + name);
        }
        if (stride < 0) throw new IllegalArgumentException("gemm: negative stride for " + name);
        if (rows == 0 || cols == 0) return;
        long last = Math.addExact(Math.multiplyExact((long) batchCount - 1, stride), Math.addExact(Math.multiplyExact(cols - 1, ld), rows - 1));
        if (last >= t.numel()) {
            throw new IllegalArgumentException("gemm: " + name + " (" + rows + "x" + cols + ", ld " + ld + ", stride " + stride
                    + ", batch " + batchCount + ") reaches element " + last + " but the tensor has " + t.numel());
        }
    }

    public double flops() {
        return 2.0 * m * n * k * batchCount;
    }
}
