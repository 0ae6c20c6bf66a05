package dev.sumi.ops.ref;

import dev.sumi.testing.FiniteDifference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

/** Tier 1: LinearRef's backward against central differences, and its += / = contract. */
class LinearRefTest {

    @ParameterizedTest
    @CsvSource({"1,1,1", "3,5,4", "1,3,17", "3,17,5", "2,1,33"})
    void backwardMatchesCentralDifferences(int m, int n, int k) {
        Random r = new Random(m * 1000 + n * 10 + k);
        double[] x = FiniteDifference.random(r, m * k, 1), w = FiniteDifference.random(r, n * k, 1), b = FiniteDifference.random(r, n, 1);
        double[] dy = FiniteDifference.random(r, m * n, 1);
        double[] dx = FiniteDifference.random(r, m * k, 1);  // garbage: dx is written (=)
        double[] dw0 = FiniteDifference.random(r, n * k, 1), db0 = FiniteDifference.random(r, n, 1);
        double[] dw = dw0.clone(), db = db0.clone();
        LinearRef.backward(dx, dw, db, dy, x, w, m, n, k);
        for (int i = 0; i < dw.length; i++) dw[i] -= dw0[i];  // += : the increment is the gradient
        for (int i = 0; i < db.length; i++) db[i] -= db0[i];
        FiniteDifference.check("linear dx", x, dy, xx -> fwd(xx, w, b, m, n, k), dx, 40);
        FiniteDifference.check("linear dW", w, dy, ww -> fwd(x, ww, b, m, n, k), dw, 40);
        FiniteDifference.check("linear db", b, dy, bb -> fwd(x, w, bb, m, n, k), db, 40);
    }

    static double[] fwd(double[] x, double[] w, double[] b, int m, int n, int k) {
        double[] y = new double[m * n];
        LinearRef.forward(y, x, w, b, m, n, k);
        return y;
    }
}
