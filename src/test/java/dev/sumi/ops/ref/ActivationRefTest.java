package dev.sumi.ops.ref;

import dev.sumi.ops.ref.ActivationRef.Kind;
import dev.sumi.testing.FiniteDifference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Tier 1: the activation references against central differences, and erf against known values. */
class ActivationRefTest {

    @ParameterizedTest
    @EnumSource(Kind.class)
    void gradients(Kind k) {
        Random r = new Random(21);
        double[] x = FiniteDifference.random(r, 61, 6), dout = FiniteDifference.random(r, 61, 1);
        double[] dx = new double[x.length];
        ActivationRef.backward(k, dx, dout, x);
        FiniteDifference.check(k + " dx", x, dout, xx -> {
            double[] o = new double[xx.length];
            ActivationRef.forward(k, o, xx);
            return o;
        }, dx, 61);
    }

    @Test
    void gegluGradients() {
        int rows = 3, F = 5;
        Random r = new Random(22);
        double[] x = FiniteDifference.random(r, rows * 2 * F, 3), dout = FiniteDifference.random(r, rows * F, 1);
        double[] dx = new double[x.length];
        ActivationRef.gegluBackward(dx, dout, x, rows, F);
        FiniteDifference.check("geglu dx", x, dout, xx -> {
            double[] o = new double[rows * F];
            ActivationRef.gegluForward(o, xx, rows, F);
            return o;
        }, dx, 30);
    }

    @Test
    void gegluIsValueTimesGeluOfGate() {
        double[] x = {2, -3, 0.5, 1.5}, out = new double[2];  // one row, F = 2: values (2, -3), gates (0.5, 1.5)
        ActivationRef.gegluForward(out, x, 1, 2);
        assertEquals(2 * ActivationRef.gelu(0.5), out[0], 0);
        assertEquals(-3 * ActivationRef.gelu(1.5), out[1], 0);
    }

    @Test
    void erfMatchesTables() {
        // erf values to 16 digits (Abramowitz and Stegun table 7.1 / any CAS)
        assertEquals(0.5204998778130465, ActivationRef.erf(0.5), 2e-16);
        assertEquals(0.8427007929497149, ActivationRef.erf(1.0), 2e-16);
        assertEquals(0.9953222650189527, ActivationRef.erf(2.0), 4e-16);
        assertEquals(0.9999779095030014, ActivationRef.erf(3.0), 4e-16);
        assertEquals(-0.9999999845827421, ActivationRef.erf(-4.0), 4e-16);
        assertEquals(0.0, ActivationRef.erf(0.0), 0);
    }
}
