package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.ops.ActivationOps.Kind;
import dev.sumi.ops.ref.ActivationRef;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.Budget;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static dev.sumi.ops.OpsTesting.random;
import static dev.sumi.ops.OpsTesting.round;
import static dev.sumi.ops.OpsTesting.wide;
import static dev.sumi.ops.OpsTesting.within;

/**
 * Activation kernels against {@link ActivationRef} in every dtype and on sizes off the block (1, 33,
 * 4099). Budget: 2x the error of the same formula evaluated in float (each elementary function
 * correctly rounded to float) and rounded to the output type, plus 8 float roundoffs of the largest
 * output (the kernels' expf / erff are within a few ulps, not correctly rounded).
 */
public abstract class ActivationOpsContract {

    protected abstract Device device();

    static Stream<Arguments> cases() {
        List<Arguments> a = new ArrayList<>();
        for (Kind k : Kind.values()) for (DType t : OpsTesting.FLOATS) for (int n : new int[] {1, 33, 4099}) a.add(Arguments.of(k, t, n));
        return a.stream();
    }

    static final float INV_SQRT2 = 0.70710678118654752f, INV_SQRT2PI = 0.39894228040143268f, QUICK = 1.702f;

    static float sigmoid(float x) {
        return 1 / (1 + (float) Math.exp(-x));
    }

    static float erf(float x) {
        return (float) ActivationRef.erf(x);
    }

    /** The kernel's formulas in float. */
    static float act(Kind k, float x) {
        return switch (k) {
            case SILU -> x * sigmoid(x);
            case GELU -> 0.5f * x * (1 + erf(x * INV_SQRT2));
            case QUICK_GELU -> x * sigmoid(QUICK * x);
        };
    }

    static float grad(Kind k, float x) {
        return switch (k) {
            case SILU -> {
                float s = sigmoid(x);
                yield s * (1 + x * (1 - s));
            }
            case GELU -> 0.5f * (1 + erf(x * INV_SQRT2)) + x * INV_SQRT2PI * (float) Math.exp(-0.5f * x * x);
            case QUICK_GELU -> {
                float s = sigmoid(QUICK * x);
                yield s * (1 + QUICK * x * (1 - s));
            }
        };
    }

    static ActivationRef.Kind refKind(Kind k) {
        return ActivationRef.Kind.valueOf(k.name());
    }

    @ParameterizedTest(name = "{0} {1} n={2}")
    @MethodSource("cases")
    void activation(Kind k, DType t, int n) {
        float[] x = random(t, n, 41, 6f), dout = random(t, n, 42, 1f);
        if (n > 4) x[3] = 0f;
        double[] ref = new double[n], dref = new double[n];
        ActivationRef.forward(refKind(k), ref, wide(x));
        ActivationRef.backward(refKind(k), dref, wide(dout), wide(x));
        float[] base = new float[n], dbase = new float[n];
        for (int i = 0; i < n; i++) {
            base[i] = act(k, x[i]);
            dbase[i] = dout[i] * grad(k, x[i]);
        }
        String what = k + " " + t + " n=" + n;
        Device d = device();
        try (Tensor tx = Tensor.fromFloats(d, t, x, n); Tensor tdout = Tensor.fromFloats(d, t, dout, n);
             Tensor out = Tensor.allocate(d, t, n); Tensor dx = Tensor.allocate(d, t, n)) {
            ActivationOps.forward(k, out, tx);
            float[] got = out.toFloats();
            within(what, got, round(t, base), ref, 8);
            ActivationOps.backward(k, dx, tdout, tx);
            within(what + " backward", dx.toFloats(), round(t, dbase), dref, 8);
            // in place: out may be x, dx may be dout
            ActivationOps.backward(k, tdout, tdout, tx);
            Budget.assertExact(what + " backward in place", dx.toFloats(), tdout.toFloats());
            ActivationOps.forward(k, tx, tx);
            Budget.assertExact(what + " in place", got, tx.toFloats());
        }
    }

    static Stream<Arguments> gegluCases() {
        List<Arguments> a = new ArrayList<>();
        for (DType t : OpsTesting.FLOATS) {
            a.add(Arguments.of(t, 1, 5));
            a.add(Arguments.of(t, 3, 321));
        }
        return a.stream();
    }

    @ParameterizedTest(name = "{0} rows={1} F={2}")
    @MethodSource("gegluCases")
    void geglu(DType t, int rows, int F) {
        float[] x = random(t, rows * 2 * F, 43, 4f), dout = random(t, rows * F, 44, 1f);
        double[] ref = new double[rows * F], dref = new double[x.length];
        ActivationRef.gegluForward(ref, wide(x), rows, F);
        ActivationRef.gegluBackward(dref, wide(dout), wide(x), rows, F);
        float[] base = new float[rows * F], dbase = new float[x.length];
        for (int r = 0; r < rows; r++) {
            for (int f = 0; f < F; f++) {
                float h = x[r * 2 * F + f], g = x[r * 2 * F + F + f], dd = dout[r * F + f];
                base[r * F + f] = h * act(Kind.GELU, g);
                dbase[r * 2 * F + f] = dd * act(Kind.GELU, g);
                dbase[r * 2 * F + F + f] = dd * h * grad(Kind.GELU, g);
            }
        }
        String what = "geglu " + t + " " + rows + "x" + F;
        Device d = device();
        try (Tensor tx = Tensor.fromFloats(d, t, x, rows, 2 * F); Tensor tdout = Tensor.fromFloats(d, t, dout, rows, F);
             Tensor out = Tensor.allocate(d, t, rows, F); Tensor dx = Tensor.allocate(d, t, rows, 2 * F)) {
            ActivationOps.geglu(out, tx);
            within(what, out.toFloats(), round(t, base), ref, 8);
            ActivationOps.gegluBackward(dx, tdout, tx);
            within(what + " backward", dx.toFloats(), round(t, dbase), dref, 8);
        }
    }
}
