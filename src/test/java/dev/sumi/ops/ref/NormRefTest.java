package dev.sumi.ops.ref;

import dev.sumi.testing.FiniteDifference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Tier 1: the norm references' backward against central differences, on small odd shapes. */
class NormRefTest {

    @ParameterizedTest(name = "N={0} C={1} HW={2} G={3} silu={4}")
    @CsvSource({"1, 6, 5, 3, false", "3, 6, 5, 3, true", "3, 5, 7, 5, false", "1, 5, 7, 5, true", "3, 4, 3, 1, true"})
    void groupnormGradients(int N, int C, int HW, int G, boolean silu) {
        Random r = new Random(11);
        double eps = 1e-5;
        double[] x = FiniteDifference.random(r, N * C * HW, 2), gamma = FiniteDifference.random(r, C, 1.5),
                beta = FiniteDifference.random(r, C, 1), dout = FiniteDifference.random(r, N * C * HW, 1);
        for (int i = 0; i < x.length; i++) x[i] += 0.5;  // a non-zero mean
        double[] out = new double[x.length], mean = new double[N * G], rstd = new double[N * G];
        NormRef.groupnormForward(out, mean, rstd, x, gamma, beta, N, C, HW, G, eps, silu);
        double[] dx = new double[x.length], dgamma = new double[C], dbeta = new double[C];
        NormRef.groupnormBackward(dx, dgamma, dbeta, dout, x, gamma, beta, mean, rstd, N, C, HW, G, silu);
        String what = "groupnorm N" + N + " C" + C + " G" + G + (silu ? " silu" : "");
        FiniteDifference.check(what + " dx", x, dout, xx -> gn(xx, gamma, beta, N, C, HW, G, eps, silu), dx, 200);
        FiniteDifference.check(what + " dgamma", gamma, dout, gg -> gn(x, gg, beta, N, C, HW, G, eps, silu), dgamma, 50);
        FiniteDifference.check(what + " dbeta", beta, dout, bb -> gn(x, gamma, bb, N, C, HW, G, eps, silu), dbeta, 50);
    }

    private static double[] gn(double[] x, double[] gamma, double[] beta, int N, int C, int HW, int G, double eps, boolean silu) {
        double[] out = new double[x.length];
        NormRef.groupnormForward(out, new double[N * G], new double[N * G], x, gamma, beta, N, C, HW, G, eps, silu);
        return out;
    }

    @ParameterizedTest(name = "rows={0} C={1}")
    @CsvSource({"1, 7", "3, 5", "4, 33"})
    void layernormGradients(int rows, int C) {
        Random r = new Random(12);
        double eps = 1e-5;
        double[] x = FiniteDifference.random(r, rows * C, 2), w = FiniteDifference.random(r, C, 1.5),
                b = FiniteDifference.random(r, C, 1), dout = FiniteDifference.random(r, rows * C, 1);
        double[] out = new double[x.length], mean = new double[rows], rstd = new double[rows];
        NormRef.layernormForward(out, mean, rstd, x, w, b, rows, C, eps);
        double[] dx = new double[x.length], dw = new double[C], db = new double[C];
        NormRef.layernormBackward(dx, dw, db, dout, x, w, mean, rstd, rows, C);
        FiniteDifference.check("layernorm dx", x, dout, xx -> ln(xx, w, b, rows, C, eps), dx, 200);
        FiniteDifference.check("layernorm dw", w, dout, ww -> ln(x, ww, b, rows, C, eps), dw, 50);
        FiniteDifference.check("layernorm db", b, dout, bb -> ln(x, w, bb, rows, C, eps), db, 50);
    }

    private static double[] ln(double[] x, double[] w, double[] b, int rows, int C, double eps) {
        double[] out = new double[x.length];
        NormRef.layernormForward(out, new double[rows], new double[rows], x, w, b, rows, C, eps);
        return out;
    }

    @Test
    void parameterGradientsAccumulate() {
        int N = 1, C = 2, HW = 3, G = 1;
        double[] x = {1, 2, 4, -1, 0, 3}, gamma = {1, 2}, beta = {0, 1}, dout = {1, 1, 1, 1, 1, 1};
        double[] out = new double[6], mean = new double[1], rstd = new double[1];
        NormRef.groupnormForward(out, mean, rstd, x, gamma, beta, N, C, HW, G, 1e-5, false);
        double[] dx = new double[6], dgamma = {10, 10}, dbeta = {10, 10};
        NormRef.groupnormBackward(dx, dgamma, dbeta, dout, x, gamma, beta, mean, rstd, N, C, HW, G, false);
        assertEquals(13, dbeta[0], 1e-12, "dbeta += sum of dout over the channel");
        assertEquals(13, dbeta[1], 1e-12);
    }
}
