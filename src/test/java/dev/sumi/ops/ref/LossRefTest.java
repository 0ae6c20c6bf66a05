package dev.sumi.ops.ref;

import dev.sumi.testing.FiniteDifference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

/** Tier 1: LossRef's gradient against central differences. */
class LossRefTest {

    @ParameterizedTest
    @CsvSource({"1,1", "1,17", "3,5", "3,33"})
    void mseGradientMatchesCentralDifferences(int batch, int perSample) {
        Random r = new Random(batch * 100 + perSample);
        int n = batch * perSample;
        double[] pred = FiniteDifference.random(r, n, 2), target = FiniteDifference.random(r, n, 2);
        double[] w = new double[batch];
        for (int i = 0; i < batch; i++) w[i] = 0.1 + r.nextDouble();
        double[] dpred = new double[n];
        LossRef.mseWeightedBackward(dpred, pred, target, w, 1.0, batch, perSample);
        FiniteDifference.check("mse dpred", pred, new double[] {1.0},
                p -> new double[] {LossRef.mseWeighted(p, target, w, batch, perSample)}, dpred, 40);
    }
}
