package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.ops.ref.LossRef;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.HostConvert;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.Budget;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static dev.sumi.ops.LowPrecision.*;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LossOps against LossRef (F64). dpred: within 2 x the error of the same formula in float rounded to
 * the type, plus 2 float ulps of its largest value (the kernel folds 2 gradScale / n into one float
 * constant, the baseline multiplies in another order). loss: the float sum bound (n - 1) u sum|terms|
 * of a recursive sum (Higham, Thm 4.1), plus u |loss| for 1 / n and the final product.
 */
public abstract class LossOpsContract {

    protected abstract Device device();

    // (batch, elements per sample)
    static final int[][] SHAPES = {{1, 1}, {1, 17}, {3, 33}, {3, 4 * 17 * 17}, {1, 70_001}};

    static Stream<Arguments> cases() {
        List<Arguments> a = new ArrayList<>();
        for (DType t : LinearOpsContract.FLOATS) for (int[] s : SHAPES) a.add(Arguments.of(t, s[0], s[1]));
        return a.stream();
    }

    @ParameterizedTest
    @MethodSource("cases")
    void mseWeighted(DType t, int batch, int perSample) {
        String tag = t + " " + batch + "x" + perSample;
        int n = batch * perSample;
        float gradScale = 1024f;
        float[] pred = random(t, n, 1, 2f), target = random(t, n, 2, 2f), w = new float[batch];
        for (int b = 0; b < batch; b++) w[b] = 0.25f + b;
        double[] wd = widen(w);
        double lossRef = LossRef.mseWeighted(widen(pred), widen(target), wd, batch, perSample);
        double[] dRef = new double[n];
        LossRef.mseWeightedBackward(dRef, widen(pred), widen(target), wd, gradScale, batch, perSample);
        float[] dBase = new float[n];
        double sumTerms = 0;
        for (int i = 0; i < n; i++) {
            float d = pred[i] - target[i];
            dBase[i] = HostConvert.roundTo(t, gradScale * 2 * w[i / perSample] * d / n);
            sumTerms += w[i / perSample] * (double) d * d;
        }
        try (Tensor tp = Tensor.fromFloats(device(), t, pred, batch, perSample); Tensor tt = Tensor.fromFloats(device(), t, target, batch, perSample);
             Tensor tw = Tensor.fromFloats(device(), DType.F32, w, batch); Tensor loss = Tensor.allocate(device(), DType.F32, 1);
             Tensor dp = Tensor.allocate(device(), t, batch, perSample)) {
            BasicOps.fill(loss, Float.NaN);  // written, not accumulated
            LossOps.mseWeighted(loss, dp, tp, tt, tw, gradScale);
            float got = loss.toFloats()[0];
            double u = 0x1p-24;
            double bound = ((n - 1) * u * sumTerms) / n + 3 * u * Math.abs(lossRef);
            System.out.printf("mse loss %s: %.9g vs %.9g, error %.3e, bound %.3e%n", tag, got, lossRef, Math.abs(got - lossRef), bound);
            assertTrue(Math.abs(got - lossRef) <= bound, "loss " + got + " vs " + lossRef + " bound " + bound);
            Budget.assertWithin("mse dpred " + tag, dp.toFloats(), dBase, dRef, 2, 2 * Math.ulp((float) maxAbs(dRef)));
        }
    }
}
