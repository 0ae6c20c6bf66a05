package dev.sumi.ops;

import dev.sumi.device.Dim3;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

/** Training losses (cuda-kernels/loss.cu). Nothing is allocated. */
public final class LossOps {
    private LossOps() {}

    /**
     * Weighted mean squared error and its gradient in one launch. pred, target, dpred: (B, ...) of one
     * float dtype, weight: (B) F32 per-sample weights (1 for plain MSE; min-SNR-gamma weights are the
     * caller's); loss: one F32 element.
     * <pre>
     *   loss  = sum_b w[b] sum_d (pred - target)^2 / numel            (=)
     *   dpred = gradScale * 2 w[b] (pred - target) / numel            (=; dpred may be pred)
     * </pre>
     * gradScale is the loss scale of mixed-precision training (1 without); loss itself is unscaled.
     */
    public static void mseWeighted(Tensor loss, Tensor dpred, Tensor pred, Tensor target, Tensor weight, float gradScale) {
        String op = "loss.mseWeighted";
        Checks.floatType(op, "pred", pred);
        if (pred.shape().rank() < 1) throw new IllegalArgumentException(op + ": pred " + pred.shape() + " needs a batch dimension");
        long batch = pred.shape().dim(0);
        Checks.shape(op, "target", target, pred.shape().dims());
        Checks.shape(op, "dpred", dpred, pred.shape().dims());
        LinearOps.sameType(op, pred, target, dpred);
        Checks.dtype(op, "weight", weight, DType.F32);
        Checks.shape(op, "weight", weight, batch);
        Checks.dtype(op, "loss", loss, DType.F32);
        if (loss.numel() != 1) throw new IllegalArgumentException(op + ": loss must be one element, not " + loss.shape());
        Checks.sameDevice(op, pred, weight, loss);
        loss.device().memset(loss.buffer(), (byte) 0);
        long n = pred.numel();
        if (n == 0) return;
        loss.device().launch("mse_weighted_" + pred.dtype().kernelSuffix(), Launch.reduceGrid(n), Dim3.of(Launch.BLOCK), 0,
                loss, dpred, pred, target, weight, gradScale, n / batch, n);
    }
}
