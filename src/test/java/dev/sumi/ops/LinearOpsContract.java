package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.ops.ref.LinearRef;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.Budget;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static dev.sumi.ops.LowPrecision.*;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * LinearOps against LinearRef (F64) in every dtype on odd shapes. Budgets: max error <= 2 x the error
 * of the plain low-precision baseline (float math, each op's output rounded to its type, as an
 * unfused framework computes it) + {@link LowPrecision#gemmFloor}.
 */
public abstract class LinearOpsContract {

    protected abstract Device device();

    static final DType[] FLOATS = {DType.F32, DType.F16, DType.BF16};
    // (M, N, K): batch-like rows 1 and 3, sizes off every tile
    static final int[][] SHAPES = {{1, 1, 1}, {3, 17, 33}, {1, 65, 3}, {3, 33, 65}, {17, 3, 17}, {65, 5, 1}};

    static Stream<Arguments> cases() {
        List<Arguments> a = new ArrayList<>();
        for (DType t : FLOATS) {
            for (int[] s : SHAPES) {
                a.add(Arguments.of(t, t, s[0], s[1], s[2]));
                if (t != DType.F32) a.add(Arguments.of(t, DType.F32, s[0], s[1], s[2]));  // F32 parameter grads
            }
        }
        return a.stream();
    }

    @ParameterizedTest
    @MethodSource("cases")
    void forwardAndBackward(DType t, DType g, int m, int n, int k) {
        String tag = t + "/" + g + " " + m + "x" + n + "x" + k;
        float[] x = random(t, m * k, 1, 1f), w = random(t, n * k, 2, 1f), b = random(t, n, 3, 1f), dy = random(t, m * n, 4, 1f);
        float[] dw0 = random(g, n * k, 5, 1f), db0 = random(g, n, 6, 1f);
        // F64 reference
        double[] yRef = new double[m * n], dxRef = new double[m * k], dwRef = widen(dw0), dbRef = widen(db0);
        LinearRef.forward(yRef, widen(x), widen(w), widen(b), m, n, k);
        LinearRef.backward(dxRef, dwRef, dbRef, widen(dy), widen(x), widen(w), m, n, k);
        // low-precision baseline
        float[] yBase = round(t, add(DType.F32, nt(x, w, m, n, k), broadcast(b, m)));
        float[] dxBase = round(t, nt(dy, transpose(w, n, k), m, k, n));
        float[] dwBase = add(g, dw0, round(t, nt(transpose(dy, m, n), transpose(x, m, k), n, k, m)));
        float[] dbBase = add(g, db0, round(t, nt(ones(1, m), transpose(dy, m, n), 1, n, m)));
        try (Tensor tx = Tensor.fromFloats(device(), t, x, m, k); Tensor tw = Tensor.fromFloats(device(), t, w, n, k);
             Tensor tb = Tensor.fromFloats(device(), t, b, n); Tensor tdy = Tensor.fromFloats(device(), t, dy, m, n);
             Tensor ty = Tensor.allocate(device(), t, m, n); Tensor tdx = Tensor.allocate(device(), t, m, k);
             Tensor tdw = Tensor.fromFloats(device(), g, dw0, n, k); Tensor tdb = Tensor.fromFloats(device(), g, db0, n)) {
            BasicOps.fill(ty, Float.NaN);  // y and dx are written, never read
            BasicOps.fill(tdx, Float.NaN);
            LinearOps.forward(ty, tx, tw, tb);
            LinearOps.backward(tdx, tdw, tdb, tdy, tx, tw);
            Budget.assertWithin("linear y " + tag, ty.toFloats(), yBase, yRef, 2, gemmFloor(yRef));
            Budget.assertWithin("linear dx " + tag, tdx.toFloats(), dxBase, dxRef, 2, gemmFloor(dxRef));
            Budget.assertWithin("linear dW += " + tag, tdw.toFloats(), dwBase, dwRef, 2, gemmFloor(dwRef));
            Budget.assertWithin("linear db += " + tag, tdb.toFloats(), dbBase, dbRef, 2, gemmFloor(dbRef));
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void noBiasAndFrozenBase(DType t, DType g, int m, int n, int k) {
        if (g != t) return;  // the dtype pair does not matter here
        String tag = t + " " + m + "x" + n + "x" + k;
        float[] x = random(t, m * k, 11, 2f), w = random(t, n * k, 12, 0.5f), dy = random(t, m * n, 13, 1f);
        double[] yRef = new double[m * n], dxRef = new double[m * k];
        LinearRef.forward(yRef, widen(x), widen(w), null, m, n, k);
        LinearRef.backward(dxRef, null, null, widen(dy), widen(x), widen(w), m, n, k);
        try (Tensor tx = Tensor.fromFloats(device(), t, x, m, k); Tensor tw = Tensor.fromFloats(device(), t, w, n, k);
             Tensor tdy = Tensor.fromFloats(device(), t, dy, m, n); Tensor ty = Tensor.allocate(device(), t, m, n);
             Tensor tdx = Tensor.allocate(device(), t, m, k)) {
            BasicOps.fill(ty, Float.NaN);
            LinearOps.forward(ty, tx, tw, null);
            LinearOps.backwardInput(tdx, tdy, tw);
            Budget.assertWithin("linear y (no bias) " + tag, ty.toFloats(), round(t, nt(x, w, m, n, k)), yRef, 2, gemmFloor(yRef));
            Budget.assertWithin("linear dx (frozen) " + tag, tdx.toFloats(), round(t, nt(dy, transpose(w, n, k), m, k, n)), dxRef, 2, gemmFloor(dxRef));
        }
    }

    /** db over many rows: the column sum's float accumulation against the classical bound (M - 1) u sum|dy|. */
    @Test
    void biasGradOverManyRows() {
        int m = 4099, n = 37;
        float[] dy = random(DType.F32, m * n, 21, 1f);
        try (Tensor tdy = Tensor.fromFloats(device(), DType.F32, dy, m, n); Tensor tdb = Tensor.allocate(device(), DType.F32, n)) {
            BasicOps.fill(tdb, 0);
            LinearOps.biasGrad(tdb, tdy);
            float[] got = tdb.toFloats();
            for (int j = 0; j < n; j++) {
                double s = 0, sAbs = 0;
                for (int i = 0; i < m; i++) {
                    s += dy[i * n + j];
                    sAbs += Math.abs(dy[i * n + j]);
                }
                double bound = (m - 1) * 0x1p-24 * sAbs + 0x1p-24 * Math.abs(s);
                if (Math.abs(got[j] - s) > bound) throw new AssertionError("db[" + j + "] " + got[j] + " vs " + s + " (bound " + bound + ")");
            }
        }
    }

    @Test
    void rejectsMismatchedShapes() {
        try (Tensor x = Tensor.allocate(device(), DType.F32, 3, 5); Tensor w = Tensor.allocate(device(), DType.F32, 4, 6);
             Tensor y = Tensor.allocate(device(), DType.F32, 3, 4); Tensor wh = Tensor.allocate(device(), DType.F16, 4, 5)) {
            assertThrows(IllegalArgumentException.class, () -> LinearOps.forward(y, x, w, null));
            assertThrows(IllegalArgumentException.class, () -> LinearOps.forward(y, x, wh, null));
        }
    }

    static float[] broadcast(float[] b, int rows) {
        float[] out = new float[rows * b.length];
        for (int i = 0; i < rows; i++) System.arraycopy(b, 0, out, i * b.length, b.length);
        return out;
    }

    static float[] ones(int rows, int cols) {
        float[] o = new float[rows * cols];
        java.util.Arrays.fill(o, 1f);
        return o;
    }
}
