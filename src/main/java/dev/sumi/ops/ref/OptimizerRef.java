package dev.sumi.ops.ref;

/**
 * F64 reference of {@link dev.sumi.ops.OptimizerOps} over a list of tensors (param[i], grad[i],
 * m[i], v[i] of one size each), every array updated in place.
 */
public final class OptimizerRef {
    private OptimizerRef() {}

    /** sqrt of the sum over all tensors of (g * invLossScale)^2; NaN or infinite if any g is. */
    public static double gradNorm(double[][] grads, double invLossScale) {
        double s = 0;
        for (double[] g : grads) for (double x : g) s += (x * invLossScale) * (x * invLossScale);
        return Math.sqrt(s);
    }

    /** The factor each gradient gets: unscale, then torch's clip_grad_norm_ coefficient (maxNorm <= 0: none). */
    public static double gradScale(double norm, double invLossScale, double maxNorm) {
        double scale = invLossScale;
        if (maxNorm > 0) scale *= Math.min(1, maxNorm / (norm + 1e-6));
        return scale;
    }

    /** torch.optim.AdamW at step t (from 1) with per-tensor lr factors and weight decays. */
    public static void adamw(double[][] param, double[][] grad, double[][] m, double[][] v, double[] lrScale, double[] weightDecay,
                             double lr, double beta1, double beta2, double eps, int t, double gradScale) {
        double bc1 = 1 - Math.pow(beta1, t), bc2 = 1 - Math.pow(beta2, t);
        for (int i = 0; i < param.length; i++) {
            double stepLr = lr * lrScale[i];
            for (int j = 0; j < param[i].length; j++) {
                double g = grad[i][j] * gradScale;
                m[i][j] = beta1 * m[i][j] + (1 - beta1) * g;
                v[i][j] = beta2 * v[i][j] + (1 - beta2) * g * g;
                param[i][j] = param[i][j] * (1 - stepLr * weightDecay[i]) - stepLr * (m[i][j] / bc1) / (Math.sqrt(v[i][j] / bc2) + eps);
            }
        }
    }

    /** Lion (Chen et al. 2023, lucidrains/lion-pytorch) with per-tensor lr factors and weight decays. */
    public static void lion(double[][] param, double[][] grad, double[][] m, double[] lrScale, double[] weightDecay,
                            double lr, double beta1, double beta2, double gradScale) {
        for (int i = 0; i < param.length; i++) {
            double stepLr = lr * lrScale[i];
            for (int j = 0; j < param[i].length; j++) {
                double g = grad[i][j] * gradScale;
                double c = beta1 * m[i][j] + (1 - beta1) * g;
                param[i][j] = param[i][j] * (1 - stepLr * weightDecay[i]) - stepLr * Math.signum(c);
                m[i][j] = beta2 * m[i][j] + (1 - beta2) * g;
            }
        }
    }
}
