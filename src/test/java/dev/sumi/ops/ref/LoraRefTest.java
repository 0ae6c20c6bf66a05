package dev.sumi.ops.ref;

import dev.sumi.testing.FiniteDifference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Tier 1: LoraRef's backward against central differences (dx, dDown, dUp; W frozen). */
class LoraRefTest {

    @ParameterizedTest
    @CsvSource({"1,1,1,1", "3,5,4,2", "1,3,17,3", "3,17,5,4"})
    void backwardMatchesCentralDifferences(int m, int n, int k, int r) {
        Random rnd = new Random(m * 1000 + n * 10 + k + r);
        double s = 0.75;
        double[] x = FiniteDifference.random(rnd, m * k, 1), w = FiniteDifference.random(rnd, n * k, 1), b = FiniteDifference.random(rnd, n, 1);
        double[] down = FiniteDifference.random(rnd, r * k, 1), up = FiniteDifference.random(rnd, n * r, 1);
        double[] dy = FiniteDifference.random(rnd, m * n, 1);
        double[] y = new double[m * n], h = new double[m * r];
        LoraRef.forward(y, h, x, w, b, down, up, s, m, n, k, r);
        double[] dx = new double[m * k], dDown = new double[r * k], dUp0 = FiniteDifference.random(rnd, n * r, 1), dUp = dUp0.clone();
        LoraRef.backward(dx, dDown, dUp, dy, x, h, w, down, up, s, m, n, k, r);
        for (int i = 0; i < dUp.length; i++) dUp[i] -= dUp0[i];
        FiniteDifference.check("lora dx", x, dy, xx -> fwd(xx, w, b, down, up, s, m, n, k, r), dx, 40);
        FiniteDifference.check("lora dDown", down, dy, dd -> fwd(x, w, b, dd, up, s, m, n, k, r), dDown, 40);
        FiniteDifference.check("lora dUp", up, dy, uu -> fwd(x, w, b, down, uu, s, m, n, k, r), dUp, 40);
    }

    @org.junit.jupiter.api.Test
    void zeroUpIsTheBaseLayer() {
        int m = 3, n = 4, k = 5, r = 2;
        Random rnd = new Random(7);
        double[] x = FiniteDifference.random(rnd, m * k, 1), w = FiniteDifference.random(rnd, n * k, 1);
        double[] down = FiniteDifference.random(rnd, r * k, 1), up = new double[n * r];
        double[] base = LinearRefTest.fwd(x, w, null, m, n, k);
        double[] lora = fwd(x, w, null, down, up, 2.0, m, n, k, r);
        for (int i = 0; i < base.length; i++) assertEquals(base[i], lora[i], 0.0);
    }

    static double[] fwd(double[] x, double[] w, double[] b, double[] down, double[] up, double s, int m, int n, int k, int r) {
        double[] y = new double[m * n], h = new double[m * r];
        LoraRef.forward(y, h, x, w, b, down, up, s, m, n, k, r);
        return y;
    }
}
