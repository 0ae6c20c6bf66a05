package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.ops.ref.NormRef;
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

import static dev.sumi.ops.OpsTesting.round;
import static dev.sumi.ops.OpsTesting.random;
import static dev.sumi.ops.OpsTesting.wide;
import static dev.sumi.ops.OpsTesting.within;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * GroupNorm and LayerNorm kernels against {@link NormRef} in every dtype, on odd sizes: batch 1 and 3,
 * groups of one channel, groups and rows not multiples of the block. Budgets: 2x the error of a plain
 * float computation (sequential sums, the same formulas) rounded to the output type, plus a floor of a
 * few float roundoffs of the largest output; mean and rstd are F32 in every dtype.
 */
public abstract class NormOpsContract {

    protected abstract Device device();

    /** N, C, H, W, groups, silu, eps */
    static Stream<Arguments> groupCases() {
        List<Arguments> a = new ArrayList<>();
        for (DType t : OpsTesting.FLOATS) {
            a.add(Arguments.of(t, 1, 64, 5, 7, 32, true, 1e-5f));    // 2 channels a group, SD's 32 groups
            a.add(Arguments.of(t, 3, 6, 9, 11, 3, false, 1e-6f));    // the VAE's eps
            a.add(Arguments.of(t, 3, 5, 3, 1, 5, true, 1e-5f));      // one channel a group
            a.add(Arguments.of(t, 1, 96, 17, 19, 32, false, 1e-5f)); // 969-element groups
        }
        return a.stream();
    }

    @ParameterizedTest(name = "{0} N={1} C={2} {3}x{4} G={5} silu={6}")
    @MethodSource("groupCases")
    void groupnorm(DType t, int N, int C, int H, int W, int G, boolean silu, float eps) {
        int HW = H * W, n = N * C * HW;
        float[] x = random(t, n, 1, 2f, 0.7f), gamma = random(t, C, 2, 1.5f, 0.5f), beta = random(t, C, 3, 1f),
                dout = random(t, n, 4, 1f), dgamma0 = random(t, C, 5, 1f), dbeta0 = random(t, C, 6, 1f);
        String what = "groupnorm " + t + " " + N + "x" + C + "x" + H + "x" + W + " G" + G + (silu ? " silu" : "");

        // F64 reference
        double[] out = new double[n], mean = new double[N * G], rstd = new double[N * G];
        NormRef.groupnormForward(out, mean, rstd, wide(x), wide(gamma), wide(beta), N, C, HW, G, eps, silu);
        double[] dx = new double[n], dgamma = wide(dgamma0), dbeta = wide(dbeta0);
        NormRef.groupnormBackward(dx, dgamma, dbeta, wide(dout), wide(x), wide(gamma), wide(beta), mean, rstd, N, C, HW, G, silu);
        // plain float baseline
        FloatNorm b = new FloatNorm(x, gamma, beta, N, C, HW, G, eps, silu);
        b.backward(dout, dgamma0.clone(), dbeta0.clone());

        Device d = device();
        try (Tensor tx = Tensor.fromFloats(d, t, x, N, C, H, W); Tensor tg = Tensor.fromFloats(d, t, gamma, C);
             Tensor tb = Tensor.fromFloats(d, t, beta, C); Tensor tout = Tensor.allocate(d, t, N, C, H, W);
             Tensor tm = Tensor.allocate(d, DType.F32, N, G); Tensor tr = Tensor.allocate(d, DType.F32, N, G);
             Tensor tdout = Tensor.fromFloats(d, t, dout, N, C, H, W); Tensor tdx = Tensor.allocate(d, t, N, C, H, W);
             Tensor tdg = Tensor.fromFloats(d, t, dgamma0, C); Tensor tdb = Tensor.fromFloats(d, t, dbeta0, C)) {
            NormOps.groupnormForward(tout, tm, tr, tx, tg, tb, G, eps, silu);
            within(what + " out", tout.toFloats(), round(t, b.out), out, 8);
            within(what + " mean", tm.toFloats(), b.mean, mean, 8);
            within(what + " rstd", tr.toFloats(), b.rstd, rstd, 8);
            NormOps.groupnormBackward(tdx, tdg, tdb, tdout, tx, tg, tb, tm, tr, G, silu);
            float[] gotDx = tdx.toFloats(), gotDg = tdg.toFloats(), gotDb = tdb.toFloats();
            within(what + " dx", gotDx, round(t, b.dx), dx, 16);
            within(what + " dgamma (+=)", gotDg, round(t, b.dgamma), dgamma, 16);
            within(what + " dbeta (+=)", gotDb, round(t, b.dbeta), dbeta, 16);

            // deterministic: the same launch again gives the same bits
            tdg.copyFrom(dgamma0);
            tdb.copyFrom(dbeta0);
            NormOps.groupnormBackward(tdx, tdg, tdb, tdout, tx, tg, tb, tm, tr, G, silu);
            Budget.assertExact(what + " dx again", gotDx, tdx.toFloats());
            Budget.assertExact(what + " dgamma again", gotDg, tdg.toFloats());
            Budget.assertExact(what + " dbeta again", gotDb, tdb.toFloats());
        }
    }

    static Stream<Arguments> layerCases() {
        List<Arguments> a = new ArrayList<>();
        for (DType t : OpsTesting.FLOATS) {
            a.add(Arguments.of(t, 1, 7));
            a.add(Arguments.of(t, 3, 320));
            a.add(Arguments.of(t, 5, 1025));
        }
        return a.stream();
    }

    @ParameterizedTest(name = "{0} rows={1} C={2}")
    @MethodSource("layerCases")
    void layernorm(DType t, int rows, int C) {
        int n = rows * C;
        float eps = NormOps.EPS;
        float[] x = random(t, n, 7, 2f, -0.6f), w = random(t, C, 8, 1.5f, 0.5f), bias = random(t, C, 9, 1f),
                dout = random(t, n, 10, 1f), dw0 = random(t, C, 11, 1f), db0 = random(t, C, 12, 1f);
        String what = "layernorm " + t + " " + rows + "x" + C;
        double[] out = new double[n], mean = new double[rows], rstd = new double[rows];
        NormRef.layernormForward(out, mean, rstd, wide(x), wide(w), wide(bias), rows, C, eps);
        double[] dx = new double[n], dw = wide(dw0), db = wide(db0);
        NormRef.layernormBackward(dx, dw, db, wide(dout), wide(x), wide(w), mean, rstd, rows, C);
        // LayerNorm over C is GroupNorm of (rows, C, 1) with one group: the same float baseline
        FloatNorm b = new FloatNorm(x, w, bias, rows, C, 1, 1, eps, false);
        b.backward(dout, dw0.clone(), db0.clone());

        Device d = device();
        // a (rows / 1, 1, C)-shaped input: any leading dims fold into rows
        try (Tensor tx = Tensor.fromFloats(d, t, x, rows, 1, C); Tensor tw = Tensor.fromFloats(d, t, w, C);
             Tensor tb = Tensor.fromFloats(d, t, bias, C); Tensor tout = Tensor.allocate(d, t, rows, 1, C);
             Tensor tm = Tensor.allocate(d, DType.F32, rows); Tensor tr = Tensor.allocate(d, DType.F32, rows);
             Tensor tdout = Tensor.fromFloats(d, t, dout, rows, 1, C); Tensor tdx = Tensor.allocate(d, t, rows, 1, C);
             Tensor tdw = Tensor.fromFloats(d, t, dw0, C); Tensor tdb = Tensor.fromFloats(d, t, db0, C)) {
            NormOps.layernormForward(tout, tm, tr, tx, tw, tb, eps);
            within(what + " out", tout.toFloats(), round(t, b.out), out, 8);
            within(what + " mean", tm.toFloats(), b.mean, mean, 8);
            within(what + " rstd", tr.toFloats(), b.rstd, rstd, 8);
            NormOps.layernormBackward(tdx, tdw, tdb, tdout, tx, tw, tm, tr);
            within(what + " dx", tdx.toFloats(), round(t, b.dx), dx, 16);
            within(what + " dweight (+=)", tdw.toFloats(), round(t, b.dgamma), dw, 16);
            within(what + " dbias (+=)", tdb.toFloats(), round(t, b.dbeta), db, 16);
        }
    }

    @Test
    void rejectsBadShapes() {
        Device d = device();
        try (Tensor x = Tensor.allocate(d, DType.F32, 1, 6, 2, 2); Tensor g = Tensor.allocate(d, DType.F32, 6);
             Tensor stats = Tensor.allocate(d, DType.F32, 1, 4); Tensor wrongStats = Tensor.allocate(d, DType.F16, 1, 3)) {
            assertThrows(IllegalArgumentException.class, () -> NormOps.groupnormForward(x, stats, stats, x, g, g, 4, 1e-5f, false),
                    "6 channels do not split into 4 groups");
            assertThrows(IllegalArgumentException.class, () -> NormOps.groupnormForward(x, wrongStats, wrongStats, x, g, g, 3, 1e-5f, false),
                    "stats must be F32");
        }
    }

    /** GroupNorm in plain float: sequential sums, the kernel's formulas, no rounding to the storage type. */
    static final class FloatNorm {
        final float[] x, gamma, beta, out, mean, rstd;
        float[] dx, dgamma, dbeta;
        final int N, C, HW, G;
        final boolean silu;

        FloatNorm(float[] x, float[] gamma, float[] beta, int N, int C, int HW, int G, float eps, boolean silu) {
            this.x = x; this.gamma = gamma; this.beta = beta; this.N = N; this.C = C; this.HW = HW; this.G = G; this.silu = silu;
            out = new float[x.length];
            mean = new float[N * G];
            rstd = new float[N * G];
            int cg = C / G, count = cg * HW;
            for (int ng = 0; ng < N * G; ng++) {
                int base = ng * count, g = ng % G;
                float s = 0;
                for (int i = 0; i < count; i++) s += x[base + i];
                float m = s / count, v = 0;
                for (int i = 0; i < count; i++) v += (x[base + i] - m) * (x[base + i] - m);
                float r = (float) (1 / Math.sqrt(v / count + eps));
                for (int i = 0; i < count; i++) {
                    int c = g * cg + i / HW;
                    float o = (x[base + i] - m) * r * gamma[c] + beta[c];
                    out[base + i] = silu ? o * sigmoid(o) : o;
                }
                mean[ng] = m;
                rstd[ng] = r;
            }
        }

        static float sigmoid(float v) {
            return 1 / (1 + (float) Math.exp(-v));
        }

        float dy(float d, int i, int c, float m, float r) {
            if (!silu) return d;
            float pre = (x[i] - m) * r * gamma[c] + beta[c], s = sigmoid(pre);
            return d * s * (1 + pre * (1 - s));
        }

        void backward(float[] dout, float[] dgamma, float[] dbeta) {
            dx = new float[x.length];
            int cg = C / G, count = cg * HW;
            float[] sg = new float[C], sb = new float[C];
            for (int ng = 0; ng < N * G; ng++) {
                int base = ng * count, g = ng % G;
                float m = mean[ng], r = rstd[ng], sd = 0, sdx = 0;
                for (int i = 0; i < count; i++) {
                    int c = g * cg + i / HW;
                    float dyv = dy(dout[base + i], base + i, c, m, r), xhat = (x[base + i] - m) * r;
                    sd += dyv * gamma[c];
                    sdx += dyv * gamma[c] * xhat;
                    sg[c] += dyv * xhat;
                    sb[c] += dyv;
                }
                float md = sd / count, mdx = sdx / count;
                for (int i = 0; i < count; i++) {
                    int c = g * cg + i / HW;
                    float xhat = (x[base + i] - m) * r;
                    dx[base + i] = r * (dy(dout[base + i], base + i, c, m, r) * gamma[c] - md - xhat * mdx);
                }
            }
            for (int c = 0; c < C; c++) {
                dgamma[c] += sg[c];
                dbeta[c] += sb[c];
            }
            this.dgamma = dgamma;
            this.dbeta = dbeta;
        }
    }
}
