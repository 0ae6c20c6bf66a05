package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.ops.BasicOps.Reduction;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.HostConvert;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.Budget;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every kernel of the first op family against a plain Java reference, on every float dtype and on
 * sizes that are not multiples of the block (1, 31, 1025, ...). The elementwise kernels compute in
 * float and round once, as the reference does, so they must match bit for bit; softmax and the sums
 * get budgets derived from the error of a plain float computation.
 */
public abstract class BasicOpsContract {

    protected abstract Device device();

    static final DType[] FLOATS = {DType.F32, DType.F16, DType.BF16};
    static final int[] SIZES = {1, 31, 256, 1025, 70_001};

    static Stream<Arguments> typesAndSizes() {
        List<Arguments> a = new ArrayList<>();
        for (DType t : FLOATS) for (int n : SIZES) a.add(Arguments.of(t, n));
        return a.stream();
    }

    static Stream<Arguments> typePairs() {
        List<Arguments> a = new ArrayList<>();
        for (DType from : FLOATS) for (DType to : FLOATS) a.add(Arguments.of(from, to));
        return a.stream();
    }

    /** Random values in [-scale, scale], already representable in {@code t}. */
    static float[] random(DType t, int n, long seed, float scale) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = HostConvert.roundTo(t, (r.nextFloat() * 2 - 1) * scale);
        return v;
    }

    @ParameterizedTest
    @MethodSource("typesAndSizes")
    void fill(DType t, int n) {
        try (Tensor out = Tensor.allocate(device(), t, n)) {
            BasicOps.fill(out, 0.1f);
            float[] expected = new float[n];
            java.util.Arrays.fill(expected, HostConvert.roundTo(t, 0.1f));
            Budget.assertExact("fill " + t, expected, out.toFloats());
        }
    }

    @ParameterizedTest
    @MethodSource("typePairs")
    void castRoundsToNearestEven(DType from, DType to) {
        int n = 4099;
        float[] x = random(from, n, 1, 70000f);  // beyond F16's range: overflow to infinity is part of the contract
        x[0] = Float.NaN;
        x[1] = Float.POSITIVE_INFINITY;
        x[2] = HostConvert.roundTo(from, 1e-7f);  // F16 subnormal territory
        x[3] = -0.0f;
        try (Tensor in = Tensor.fromFloats(device(), from, x, n); Tensor out = Tensor.allocate(device(), to, n)) {
            BasicOps.cast(out, in);
            float[] expected = new float[n];
            for (int i = 0; i < n; i++) expected[i] = HostConvert.roundTo(to, x[i]);
            Budget.assertExact("cast " + from + "->" + to, expected, out.toFloats());
        }
    }

    @ParameterizedTest
    @MethodSource("typesAndSizes")
    void addScaleAxpy(DType t, int n) {
        float[] a = random(t, n, 2, 3f), b = random(t, n, 3, 3f);
        try (Tensor ta = Tensor.fromFloats(device(), t, a, n); Tensor tb = Tensor.fromFloats(device(), t, b, n);
             Tensor out = Tensor.allocate(device(), t, n)) {
            BasicOps.add(out, ta, tb);
            float[] sum = new float[n], scaled = new float[n], axpy = new float[n];
            for (int i = 0; i < n; i++) {
                sum[i] = HostConvert.roundTo(t, a[i] + b[i]);
                scaled[i] = HostConvert.roundTo(t, -1.7f * a[i]);
                axpy[i] = HostConvert.roundTo(t, Math.fma(0.3f, a[i], b[i]));
            }
            Budget.assertExact("add " + t, sum, out.toFloats());
            BasicOps.scale(out, ta, -1.7f);
            Budget.assertExact("scale " + t, scaled, out.toFloats());
            BasicOps.axpy(tb, ta, 0.3f);
            Budget.assertExact("axpy " + t, axpy, tb.toFloats());
        }
    }

    @ParameterizedTest
    @MethodSource("typesAndSizes")
    void softmaxRows(DType t, int cols) {
        int rows = cols > 5000 ? 2 : 3;
        float[] x = random(t, rows * cols, 4, 8f);
        double[] ref = new double[x.length];
        float[] baseline = new float[x.length];
        for (int r = 0; r < rows; r++) {
            double m = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < cols; c++) m = Math.max(m, x[r * cols + c]);
            double s = 0;
            float sf = 0;
            for (int c = 0; c < cols; c++) {
                s += Math.exp(x[r * cols + c] - m);
                sf += (float) Math.exp((float) (x[r * cols + c] - (float) m));
            }
            for (int c = 0; c < cols; c++) {
                ref[r * cols + c] = Math.exp(x[r * cols + c] - m) / s;
                baseline[r * cols + c] = HostConvert.roundTo(t, (float) Math.exp((float) (x[r * cols + c] - (float) m)) / sf);
            }
        }
        try (Tensor in = Tensor.fromFloats(device(), t, x, rows, cols); Tensor out = Tensor.allocate(device(), t, rows, cols)) {
            BasicOps.softmaxRows(out, in);
            // floor: a few float ulps of the largest probability, for rows where the baseline happens to be exact
            Budget.assertWithin("softmax " + t + " " + rows + "x" + cols, out.toFloats(), baseline, ref, 2.0, 4 * Math.ulp(1.0f));
        }
    }

    @ParameterizedTest
    @MethodSource("typesAndSizes")
    void reductions(DType t, int n) {
        float[] x = random(t, n, 5, 2f);
        double sum = 0, sumAbs = 0, sumSq = 0, maxAbs = 0;
        for (float v : x) {
            sum += v;
            sumAbs += Math.abs(v);
            sumSq += (double) v * v;
            maxAbs = Math.max(maxAbs, Math.abs(v));
        }
        // recursive float summation of n terms errs by at most (n - 1) u sum|x_i| (Higham, Thm 4.1)
        double u = 0x1p-24;
        try (Tensor in = Tensor.fromFloats(device(), t, x, n)) {
            float gotSum = BasicOps.reduce(in, Reduction.SUM);
            float gotSq = BasicOps.reduce(in, Reduction.SUM_SQUARES);
            float gotMax = BasicOps.reduce(in, Reduction.MAX_ABS);
            assertTrue(Math.abs(gotSum - sum) <= (n - 1) * u * sumAbs + u * Math.abs(sum), "sum " + gotSum + " vs " + sum);
            assertTrue(Math.abs(gotSq - sumSq) <= n * u * sumSq + u * sumSq, "sum of squares " + gotSq + " vs " + sumSq);
            assertEquals((float) maxAbs, gotMax, "max |x| is exact");
        }
    }

    @ParameterizedTest
    @MethodSource("typesAndSizes")
    void maxAbsPropagatesNaN(DType t, int n) {
        float[] x = random(t, n, 6, 1f);
        x[n / 2] = Float.NaN;
        try (Tensor in = Tensor.fromFloats(device(), t, x, n)) {
            assertTrue(Float.isNaN(BasicOps.reduce(in, Reduction.MAX_ABS)), "NaN must be seen");
        }
    }
}
