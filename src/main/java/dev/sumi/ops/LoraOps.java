package dev.sumi.ops;

import dev.sumi.device.GemmParams;
import dev.sumi.tensor.Tensor;

/**
 * A linear layer with a LoRA adapter: y = x W^T + b + s * (x down^T) up^T, s = multiplier * alpha / rank.
 * Shapes: x (M, K), W (N, K) frozen, b (N) or null, down (r, K), up (N, r), h = x down^T (M, r)
 * saved by the forward for the backward, y (M, N); r from 1 to 1024 (kohya's largest network_dim; inference stacks
 * several files' ranks into one module). All share one float dtype;
 * the adapter gradients dDown, dUp have it or are F32. Nothing is allocated: the backward takes a
 * scratch dh (M, r) of the activations' dtype.
 */
public final class LoraOps {
    private LoraOps() {}

    public static final int MAX_RANK = 1024;

    /** s = multiplier * alpha / rank (kohya's convention; alpha = rank gives s = multiplier). */
    public static float scale(float multiplier, float alpha, int rank) {
        return multiplier * alpha / rank;
    }

    /**
     * y = x W^T + b (the base GEMM, {@link LinearOps#forward}), h = x down^T (=), then y += s h up^T
     * as a second GEMM with alpha = s and beta = 1: the branch is added into y without another pass.
     */
    public static void forward(Tensor y, Tensor h, Tensor x, Tensor w, Tensor b, Tensor down, Tensor up, float s) {
        String op = "lora.forward";
        int n = LinearOps.check(op, w), k = (int) w.shape().dim(1), r = rank(op, down, up, n, k);
        int m = Checks.rows(op, "x", x, k);
        Checks.shape(op, "h", h, m, r);
        LinearOps.sameType(op, w, x, y, h, down, up);
        LinearOps.forward(y, x, w, b);
        // column-major h^T (r x M) = down (r x K, read transposed) x^T (K x M)
        LinearOps.gemm(GemmParams.of(true, false, r, m, k, 1f, down, k, x, k, 0f, h, r));
        // column-major y^T (N x M) += s * up (N x r, read transposed) h^T (r x M)
        LinearOps.gemm(GemmParams.of(true, false, n, m, r, s, up, r, h, r, 1f, y, n));
    }

    /**
     * Backward of {@link #forward}: dUp (N, r) += s dy^T h; dh (M, r) = s dy up (scratch, =);
     * dDown (r, K) += dh^T x; dx (M, K) = dy W + dh down (=; null when x needs no gradient).
     * W is frozen: no dW. db, when not null, += the column sums of dy.
     */
    public static void backward(Tensor dx, Tensor dDown, Tensor dUp, Tensor db, Tensor dh,
                                Tensor dy, Tensor x, Tensor h, Tensor w, Tensor down, Tensor up, float s) {
        String op = "lora.backward";
        int n = LinearOps.check(op, w), k = (int) w.shape().dim(1), r = rank(op, down, up, n, k);
        int m = Checks.rows(op, "x", x, k);
        if (Checks.rows(op, "dy", dy, n) != m) throw new IllegalArgumentException(op + ": dy " + dy.shape() + " and x " + x.shape() + " differ in rows");
        Checks.shape(op, "h", h, m, r);
        Checks.shape(op, "dh", dh, m, r);
        Checks.shape(op, "dDown", dDown, r, k);
        Checks.shape(op, "dUp", dUp, n, r);
        Checks.gradType(op, "dDown", dDown, w.dtype());
        Checks.gradType(op, "dUp", dUp, w.dtype());
        LinearOps.sameType(op, w, x, dy, h, dh, down, up);
        Checks.sameDevice(op, w, dx, dDown, dUp, db);
        // column-major dUp^T (r x N) += s * h^T (r x M) dy (M x N)
        LinearOps.gemm(GemmParams.of(false, true, r, n, m, s, h, r, dy, n, 1f, dUp, r));
        // column-major dh^T (r x M) = s * up^T (r x N, up as stored) dy^T (N x M)
        LinearOps.gemm(GemmParams.of(false, false, r, m, n, s, up, r, dy, n, 0f, dh, r));
        // column-major dDown^T (K x r) += x^T (K x M) dh (M x r)
        LinearOps.gemm(GemmParams.of(false, true, k, r, m, 1f, x, k, dh, r, 1f, dDown, k));
        if (db != null) LinearOps.biasGrad(db, dy);
        if (dx != null) {
            LinearOps.backwardInput(dx, dy, w);
            // column-major dx^T (K x M) += down^T (K x r, down as stored) dh^T (r x M)
            LinearOps.gemm(GemmParams.of(false, false, k, m, r, 1f, down, k, dh, r, 1f, dx, k));
        }
    }

    private static int rank(String op, Tensor down, Tensor up, int n, int k) {
        if (down.shape().rank() != 2) throw new IllegalArgumentException(op + ": down " + down.shape() + " must be (rank, in)");
        int r = Math.toIntExact(down.shape().dim(0));
        if (r < 1 || r > MAX_RANK) throw new IllegalArgumentException(op + ": rank " + r + " is outside 1.." + MAX_RANK);
        Checks.shape(op, "down", down, r, k);
        Checks.shape(op, "up", up, n, r);
        return r;
    }
}
