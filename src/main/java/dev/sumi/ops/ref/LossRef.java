package dev.sumi.ops.ref;

/** F64 reference of {@link dev.sumi.ops.LossOps}: pred, target (B, D) flattened, weight (B). */
public final class LossRef {
    private LossRef() {}

    /** Returns loss = sum_b w[b] sum_d (pred - target)^2 / (B D). */
    public static double mseWeighted(double[] pred, double[] target, double[] weight, int batch, int perSample) {
        double s = 0;
        for (int i = 0; i < batch * perSample; i++) {
            double d = pred[i] - target[i];
            s += weight[i / perSample] * d * d;
        }
        return s / ((double) batch * perSample);
    }

    /** dpred (=) = gradScale * 2 w[b] (pred - target) / (B D). */
    public static void mseWeightedBackward(double[] dpred, double[] pred, double[] target, double[] weight, double gradScale,
                                           int batch, int perSample) {
        double n = (double) batch * perSample;
        for (int i = 0; i < batch * perSample; i++) dpred[i] = gradScale * 2 * weight[i / perSample] * (pred[i] - target[i]) / n;
    }
}
