package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.device.DeviceBuffer;
import dev.sumi.ops.ref.Conv2dRef;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.HostConvert;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.Budget;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The conv2d kernels + GEMM against the F64 {@link Conv2dRef}, in every storage dtype, for every SD
 * geometry on odd shapes (batch 1 and 3). Budgets follow flash-attention: the error must be within
 * 2x that of the ideal low-precision result (the F64 reference rounded once to the output type), plus
 * a floor for float accumulation: recursive summation of m terms errs by at most (m - 1) u sum|terms|
 * (Higham, Thm 4.1), with sum|terms| taken from the reference run on absolute values.
 */
public abstract class Conv2dOpsContract {

    protected abstract Device device();

    static final DType[] FLOATS = {DType.F32, DType.F16, DType.BF16};
    static final double U = 0x1p-24;   // unit roundoff of float, the accumulation type

    static Stream<Arguments> casesAndTypes() {
        List<Arguments> a = new ArrayList<>();
        for (DType t : FLOATS) {
            for (Conv2dParams p : List.of(
                    Conv2dParams.same3x3(1, 3, 5, 7, 4),
                    Conv2dParams.same3x3(3, 4, 7, 5, 3),
                    Conv2dParams.down3x3(1, 3, 9, 7, 4),
                    Conv2dParams.down3x3(3, 4, 7, 9, 8),
                    Conv2dParams.vaeDown3x3(1, 3, 9, 9, 4),
                    Conv2dParams.vaeDown3x3(3, 4, 7, 5, 3),
                    Conv2dParams.pointwise(1, 3, 5, 7, 4),
                    Conv2dParams.pointwise(3, 8, 5, 9, 3),
                    Conv2dParams.same3x3(3, 8, 9, 7, 4))) {   // 3x8x9x7: more images than one workspace chunk
                a.add(Arguments.of(t, p));
            }
        }
        return a.stream();
    }

    static float[] random(DType t, int n, long seed, float scale) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = HostConvert.roundTo(t, (r.nextFloat() * 2 - 1) * scale);
        return v;
    }

    static double[] widen(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }

    static double[] abs(double[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = Math.abs(v[i]);
        return d;
    }

    static float[] rounded(DType t, double[] ref) {
        float[] f = new float[ref.length];
        for (int i = 0; i < ref.length; i++) f[i] = HostConvert.roundTo(t, (float) ref[i]);
        return f;
    }

    static double max(double[] v) {
        double m = 0;
        for (double x : v) m = Math.max(m, Math.abs(x));
        return m;
    }

    /** Workspace for two images at a time, so that a batch of 3 runs in two chunks (2 + 1). */
    static int chunk(Conv2dParams p) {
        return Math.min(2, p.n());
    }

    @ParameterizedTest
    @MethodSource("casesAndTypes")
    void forwardAndBackwardMatchReference(DType t, Conv2dParams p) {
        Device d = device();
        int nx = p.n() * p.cin() * p.h() * p.w(), nw = p.cout() * p.patchSize(), ny = p.n() * p.cout() * p.pixelsOut();
        long seed = p.hashCode() * 31L + t.ordinal();
        float[] x = random(t, nx, seed, 1f), w = random(t, nw, seed + 1, 0.5f), b = random(t, p.cout(), seed + 2, 0.5f);
        float[] dy = random(t, ny, seed + 3, 1f);
        float[] dwPre = random(DType.F32, nw, seed + 4, 1f), dbPre = random(DType.F32, p.cout(), seed + 5, 1f);
        double[] xd = widen(x), wd = widen(w), bd = widen(b), dyd = widen(dy);

        double[] yRef = Conv2dRef.forward(xd, wd, bd, p);
        double[] yAbs = Conv2dRef.forward(abs(xd), abs(wd), abs(bd), p);
        double[] dxRef = new double[nx], dwRef = widen(dwPre), dbRef = widen(dbPre);
        Conv2dRef.backward(dxRef, dwRef, dbRef, dyd, xd, wd, p);
        double[] dxAbs = new double[nx], dwAbs = abs(widen(dwPre)), dbAbs = abs(widen(dbPre));
        Conv2dRef.backward(dxAbs, dwAbs, dbAbs, abs(dyd), abs(xd), abs(wd), p);

        long wsBytes = Conv2dOps.workspaceBytes(p, chunk(p));
        try (Tensor tx = Tensor.fromFloats(d, t, x, p.inputShape()); Tensor tw = Tensor.fromFloats(d, t, w, p.weightShape());
             Tensor tb = Tensor.fromFloats(d, t, b, p.cout()); Tensor tdy = Tensor.fromFloats(d, t, dy, p.outputShape());
             Tensor ty = Tensor.fromFloats(d, t, random(t, ny, 9, 100f), p.outputShape());        // = : old contents must vanish
             Tensor tdx = Tensor.fromFloats(d, t, random(t, nx, 10, 100f), p.inputShape());
             Tensor tdw = Tensor.fromFloats(d, DType.F32, dwPre, p.weightShape());                // += : onto these
             Tensor tdb = Tensor.fromFloats(d, DType.F32, dbPre, p.cout());
             DeviceBuffer ws = wsBytes == 0 ? null : d.allocate(wsBytes)) {
            String what = p + " " + t;

            Conv2dOps.forward(ty, tx, tw, tb, ws, p);
            Budget.assertWithin("forward " + what, ty.toFloats(), rounded(t, yRef), yRef, 2.0, p.patchSize() * U * max(yAbs));

            Conv2dOps.backwardInput(tdx, tdy, tw, ws, p);
            float[] dx = tdx.toFloats();
            Budget.assertWithin("dx " + what, dx, rounded(t, dxRef), dxRef, 2.0, p.cout() * p.k() * p.k() * U * max(dxAbs));
            Conv2dOps.backwardInput(tdx, tdy, tw, ws, p);
            Budget.assertExact("dx is deterministic " + what, dx, tdx.toFloats());

            Conv2dOps.backwardWeight(tdw, tdb, tdy, tx, ws, p);
            double terms = (double) p.n() * p.pixelsOut() + 1;
            Budget.assertWithin("dweight " + what, tdw.toFloats(), rounded(DType.F32, dwRef), dwRef, 2.0, terms * U * max(dwAbs));
            Budget.assertWithin("dbias " + what, tdb.toFloats(), rounded(DType.F32, dbRef), dbRef, 2.0, terms * U * max(dbAbs));
        }
    }

    @Test
    void forwardWithoutBias() {
        Device d = device();
        Conv2dParams p = Conv2dParams.down3x3(3, 4, 7, 9, 8);
        int nx = p.n() * p.cin() * p.h() * p.w(), nw = p.cout() * p.patchSize();
        float[] x = random(DType.F32, nx, 1, 1f), w = random(DType.F32, nw, 2, 0.5f);
        double[] ref = Conv2dRef.forward(widen(x), widen(w), null, p);
        double[] abs = Conv2dRef.forward(abs(widen(x)), abs(widen(w)), null, p);
        try (Tensor tx = Tensor.fromFloats(d, DType.F32, x, p.inputShape()); Tensor tw = Tensor.fromFloats(d, DType.F32, w, p.weightShape());
             Tensor ty = Tensor.fromFloats(d, DType.F32, random(DType.F32, ref.length, 3, 100f), p.outputShape());
             DeviceBuffer ws = d.allocate(Conv2dOps.workspaceBytes(p))) {
            Conv2dOps.forward(ty, tx, tw, null, ws, p);
            Budget.assertWithin("forward without bias", ty.toFloats(), rounded(DType.F32, ref), ref, 2.0, p.patchSize() * U * max(abs));
        }
    }

    @Test
    void errorsNameTheOp() {
        Device d = device();
        Conv2dParams p = Conv2dParams.same3x3(1, 3, 5, 7, 4);
        try (Tensor x = Tensor.allocate(d, DType.F16, p.inputShape()); Tensor w = Tensor.allocate(d, DType.F16, p.weightShape());
             Tensor y = Tensor.allocate(d, DType.F16, p.outputShape()); Tensor wrongW = Tensor.allocate(d, DType.F16, 4, 3, 1, 1);
             Tensor w32 = Tensor.allocate(d, DType.F32, p.weightShape()); Tensor dw16 = Tensor.allocate(d, DType.F16, p.weightShape());
             DeviceBuffer ws = d.allocate(Conv2dOps.workspaceBytes(p)); DeviceBuffer small = d.allocate(64)) {
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Conv2dOps.forward(y, x, wrongW, null, ws, p)),
                    "conv2d forward", "weight", "[4, 3, 3, 3]");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Conv2dOps.forward(y, x, w32, null, ws, p)),
                    "conv2d forward", "weight", "F32");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Conv2dOps.forward(y, x, w, null, small, p)),
                    "conv2d forward", "workspace");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Conv2dOps.forward(y, x, w, null, null, p)),
                    "conv2d forward", "workspace");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Conv2dOps.backwardInput(x, y, w, small, p)),
                    "conv2d backwardInput", "workspace");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Conv2dOps.backwardInput(y, y, w, ws, p)),
                    "conv2d backwardInput", "dx");
            assertMessage(assertThrows(IllegalArgumentException.class, () -> Conv2dOps.backwardWeight(dw16, null, y, x, ws, p)),
                    "conv2d backwardWeight", "dweight", "F32");
        }
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new Conv2dParams(1, 3, 5, 5, 4, 3, 0, 1, 1, 1, 1)), "conv2d", "stride");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new Conv2dParams(1, 3, 1, 1, 4, 3, 1, 0, 0, 0, 0)), "conv2d", "does not fit");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> new Conv2dParams(1, 3, 5, 5, 4, 3, 1, -1, 1, 1, 1)), "conv2d", "padding");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> Conv2dOps.workspaceBytes(p, 0)), "conv2d", "imagesPerChunk");
    }

    private static void assertMessage(Exception e, String... parts) {
        for (String s : parts) assertTrue(e.getMessage().contains(s), "message '" + e.getMessage() + "' should contain '" + s + "'");
    }
}
