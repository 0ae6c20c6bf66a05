package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.ops.AttentionParams.Strides;
import dev.sumi.ops.ref.AttentionRef;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.HostConvert;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.Budget;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The attention kernels against the F64 reference ({@link AttentionRef}), forward and backward, in
 * every storage type, on odd shapes (Tq, Tk of 1, 7, 77, 97, 130; D 8..160; B*H 1 and 3; causal;
 * q, k, v interleaved in one fused projection). Budgets follow flash-attention's tests: the error of
 * each output against F64 must be within 2x the error of the materialising computation done in the
 * storage precision ({@link #baseline}: float sums, every materialised intermediate rounded to the
 * storage type, as PyTorch does in F16/BF16), plus a floor of a few float ulps of the output's size,
 * for entries where the baseline happens to be exact (F32, or trivial softmaxes).
 */
public abstract class AttentionOpsContract {

    protected abstract Device device();

    /** The kernel family under test; null: the one AttentionOps picks for the device. */
    protected AttentionOps.Kernels kernels(DType t) {
        return null;
    }

    /** Whether this device runs case c in type t (a slow emulation may leave out the largest). */
    protected boolean runs(DType t, Case c) {
        return true;
    }

    private void forward(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, AttentionParams p) {
        AttentionOps.Kernels forced = kernels(out.dtype());
        if (forced == null) AttentionOps.forward(out, lse, q, k, v, p);
        else AttentionOps.forward(out, lse, q, k, v, p, forced);
    }

    private void backward(Tensor dq, Tensor dk, Tensor dv, Tensor delta, Tensor dout, Tensor out, Tensor lse,
                          Tensor q, Tensor k, Tensor v, AttentionParams p) {
        AttentionOps.Kernels forced = kernels(dq.dtype());
        if (forced == null) AttentionOps.backward(dq, dk, dv, delta, dout, out, lse, q, k, v, p);
        else AttentionOps.backward(dq, dk, dv, delta, dout, out, lse, q, k, v, p, forced);
    }

    static final DType[] FLOATS = {DType.F32, DType.F16, DType.BF16};

    /** b, h, tq, tk, d, causal, fused q/k/v. */
    record Case(int b, int h, int tq, int tk, int d, boolean causal, boolean fused) {
        @Override
        public String toString() {
            return b + "x" + h + " " + tq + "x" + tk + " d" + d + (causal ? " causal" : "") + (fused ? " fused" : "");
        }
    }

    static final Case[] CASES = {
            new Case(1, 1, 1, 1, 8, false, false),
            new Case(1, 3, 7, 97, 40, false, false),
            new Case(3, 1, 77, 7, 80, false, false),
            new Case(1, 3, 64, 77, 40, false, false),    // UNet cross-attention: 77 text tokens
            new Case(1, 1, 130, 130, 64, true, false),   // causal, several tiles, ragged last tile
            new Case(1, 3, 77, 77, 64, true, true),      // text encoder: causal, fused qkv projection
            new Case(3, 1, 1, 130, 8, false, false),
            new Case(1, 1, 17, 33, 160, false, false),   // largest head dim: the 48 KiB shared budget
            new Case(1, 3, 97, 97, 40, false, true),     // self-attention from a fused projection
            new Case(2, 2, 257, 200, 64, false, false),  // moderately larger: many tiles both ways
    };

    static Stream<Arguments> cases() {
        List<Arguments> a = new ArrayList<>();
        for (DType t : FLOATS) for (Case c : CASES) a.add(Arguments.of(t, c));
        return a.stream();
    }

    static float[] random(DType t, int n, Random r, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = HostConvert.roundTo(t, (r.nextFloat() * 2 - 1) * scale);
        return v;
    }

    static double[] widen(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = x[i];
        return d;
    }

    static double maxAbs(double[] x) {
        double m = 0;
        for (double v : x) m = Math.max(m, Math.abs(v));
        return m;
    }

    /** A few float ulps of the largest reference value: the floor where the baseline happens to be exact. */
    static double floor(double[] ref) {
        return 8 * 0x1p-24 * Math.max(maxAbs(ref), 1e-30);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void forwardAndBackwardMatchReference(DType t, Case c) {
        Assumptions.assumeTrue(runs(t, c), "left out on this device");
        int hd = c.h * c.d;
        // layouts: packed [B, T, H, D] each, or q, k, v interleaved in one [B, T, 3*H*D] buffer
        AttentionParams p = AttentionParams.packed(c.b, c.h, c.tq, c.tk, c.d, c.causal);
        int offK = 0, offV = 0;
        if (c.fused) {
            Strides f = new Strides((long) c.tq * 3 * hd, 3L * hd, c.d);
            p = p.withStrides(f, f, f, p.o());
            offK = hd;
            offV = 2 * hd;
        }
        Random r = new Random(31 + c.hashCode());
        int nq = c.b * c.tq * hd, nkv = c.b * c.tk * hd;
        float[] q, k, v;
        float[] dout = random(t, nq, r, 1f);
        if (c.fused) {
            q = random(t, 3 * nq, r, 1.5f);
            k = java.util.Arrays.copyOfRange(q, offK, q.length);
            v = java.util.Arrays.copyOfRange(q, offV, q.length);
        } else {
            q = random(t, nq, r, 1.5f);
            k = random(t, nkv, r, 1.5f);
            v = random(t, nkv, r, 1f);
        }
        // F64 truth on the inputs as stored
        double[] refOut = new double[nq], refLse = new double[(int) p.rows()];
        AttentionRef.forward(refOut, refLse, widen(q), widen(k), widen(v), p);
        double[] refDq = new double[q.length], refDk = new double[k.length], refDv = new double[v.length];
        AttentionRef.backward(refDq, refDk, refDv, widen(dout), widen(q), widen(k), widen(v), p);
        Baseline base = baseline(t, q, k, v, dout, p);

        Device dev = device();
        try (Tensor tq = Tensor.fromFloats(dev, t, q, q.length);
             Tensor tk = c.fused ? tq.view(offK, q.length - offK) : Tensor.fromFloats(dev, t, k, k.length);
             Tensor tv = c.fused ? tq.view(offV, q.length - offV) : Tensor.fromFloats(dev, t, v, v.length);
             Tensor out = Tensor.allocate(dev, t, c.b, c.tq, c.h, c.d);
             Tensor lse = Tensor.allocate(dev, DType.F32, c.b, c.h, c.tq);
             Tensor delta = Tensor.allocate(dev, DType.F32, c.b, c.h, c.tq);
             Tensor tdout = Tensor.fromFloats(dev, t, dout, c.b, c.tq, c.h, c.d);
             Tensor dq = Tensor.allocate(dev, t, q.length);
             Tensor dk = c.fused ? dq.view(offK, q.length - offK) : Tensor.allocate(dev, t, k.length);
             Tensor dv = c.fused ? dq.view(offV, q.length - offV) : Tensor.allocate(dev, t, v.length)) {
            forward(out, lse, tq, tk, tv, p);
            String what = "attention " + t + " " + c;
            Budget.assertWithin(what + " out", out.toFloats(), base.out, refOut, 2.0, floor(refOut));
            Budget.assertWithin(what + " lse", lse.toFloats(), base.lse, refLse, 2.0, floor(refLse));

            backward(dq, dk, dv, delta, tdout, out, lse, tq, tk, tv, p);
            if (c.fused) {
                // one interleaved gradient buffer: dq, dk, dv each fill their own third
                double[] ref = new double[q.length];
                float[] b = new float[q.length];
                for (int i = 0; i < q.length; i++) {
                    int part = (i % (3 * hd)) / hd;
                    ref[i] = part == 0 ? refDq[i] : part == 1 ? refDk[i - offK] : refDv[i - offV];
                    b[i] = part == 0 ? base.dq[i] : part == 1 ? base.dk[i - offK] : base.dv[i - offV];
                }
                Budget.assertWithin(what + " dqkv", dq.toFloats(), b, ref, 2.0, floor(ref));
            } else {
                Budget.assertWithin(what + " dq", dq.toFloats(), base.dq, refDq, 2.0, floor(refDq));
                Budget.assertWithin(what + " dk", dk.toFloats(), base.dk, refDk, 2.0, floor(refDk));
                Budget.assertWithin(what + " dv", dv.toFloats(), base.dv, refDv, 2.0, floor(refDv));
            }
            // deterministic: a second backward gives the same bits
            float[] first = dq.toFloats();
            backward(dq, dk, dv, delta, tdout, out, lse, tq, tk, tv, p);
            assertArrayEquals(first, dq.toFloats(), "backward is deterministic");
        }
    }

    @Test
    void rejectsBadArguments() {
        Device dev = device();
        AttentionParams p = AttentionParams.packed(1, 2, 5, 5, 8, false);
        try (Tensor x = Tensor.allocate(dev, DType.F16, 1, 5, 2, 8); Tensor small = Tensor.allocate(dev, DType.F16, 79);
             Tensor out = Tensor.allocate(dev, DType.F16, 1, 5, 2, 8); Tensor out32 = Tensor.allocate(dev, DType.F32, 1, 5, 2, 8);
             Tensor lse = Tensor.allocate(dev, DType.F32, 1, 2, 5); Tensor lse16 = Tensor.allocate(dev, DType.F16, 1, 2, 5)) {
            assertThrows(IllegalArgumentException.class, () -> AttentionOps.forward(out, lse, small, x, x, p));
            assertThrows(IllegalArgumentException.class, () -> AttentionOps.forward(out32, lse, x, x, x, p));
            assertThrows(IllegalArgumentException.class, () -> AttentionOps.forward(out, lse16, x, x, x, p));
            assertThrows(IllegalArgumentException.class, () -> AttentionOps.forward(x, lse, x, x, x, p));
        }
        assertThrows(IllegalArgumentException.class, () -> AttentionParams.packed(1, 1, 4, 5, 8, true));
        assertThrows(IllegalArgumentException.class, () -> AttentionParams.packed(1, 1, 4, 4, 161, false));
        assertThrows(IllegalArgumentException.class, () -> AttentionParams.packed(1, 1, 0, 4, 8, false));
    }

    /** What a materialising attention computes in storage type t (float sums, intermediates rounded to t). */
    record Baseline(float[] out, float[] lse, float[] dq, float[] dk, float[] dv) {}

    static Baseline baseline(DType t, float[] q, float[] k, float[] v, float[] dout, AttentionParams p) {
        int tq = p.queries(), tk = p.keys(), dim = p.headDim();
        float sc = p.scale();
        float[] out = new float[(int) p.o().extent(p.batch(), tq, p.heads(), dim)], lse = new float[(int) p.rows()];
        float[] dq = new float[q.length], dk = new float[k.length], dv = new float[v.length];
        for (int b = 0; b < p.batch(); b++) {
            for (int h = 0; h < p.heads(); h++) {
                float[][] prob = new float[tq][tk], ds = new float[tq][tk];
                for (int i = 0; i < tq; i++) {
                    int visible = p.causal() ? i + 1 : tk;
                    float[] s = new float[visible];
                    float m = Float.NEGATIVE_INFINITY, mf = Float.NEGATIVE_INFINITY;
                    float[] sf = new float[visible];
                    for (int j = 0; j < visible; j++) {
                        float dot = 0;
                        for (int d = 0; d < dim; d++) dot += q[(int) p.qIndex(b, i, h) + d] * k[(int) p.kIndex(b, j, h) + d];
                        sf[j] = dot * sc;                                   // lse is F32 whatever t: float scores
                        s[j] = HostConvert.roundTo(t, HostConvert.roundTo(t, dot) * sc);  // S = (q k^T) * scale in t
                        m = Math.max(m, s[j]);
                        mf = Math.max(mf, sf[j]);
                    }
                    float sum = 0, sumf = 0;
                    for (int j = 0; j < visible; j++) {
                        sum += (float) Math.exp(s[j] - m);
                        sumf += (float) Math.exp(sf[j] - mf);
                    }
                    lse[(b * p.heads() + h) * tq + i] = mf + (float) Math.log(sumf);
                    for (int j = 0; j < visible; j++) prob[i][j] = HostConvert.roundTo(t, (float) Math.exp(s[j] - m) / sum);
                    for (int d = 0; d < dim; d++) {
                        float acc = 0;
                        for (int j = 0; j < visible; j++) acc += prob[i][j] * v[(int) p.vIndex(b, j, h) + d];
                        out[(int) p.oIndex(b, i, h) + d] = HostConvert.roundTo(t, acc);
                    }
                    // softmax backward as autograd does it in t: dP = dO V^T, dS = P * (dP - sum(P * dP)), times scale
                    float[] dp = new float[visible];
                    float rowDot = 0;
                    for (int j = 0; j < visible; j++) {
                        float acc = 0;
                        for (int d = 0; d < dim; d++) acc += dout[(int) p.oIndex(b, i, h) + d] * v[(int) p.vIndex(b, j, h) + d];
                        dp[j] = HostConvert.roundTo(t, acc);
                        rowDot += dp[j] * prob[i][j];
                    }
                    for (int j = 0; j < visible; j++) ds[i][j] = HostConvert.roundTo(t, HostConvert.roundTo(t, prob[i][j] * (dp[j] - rowDot)) * sc);
                }
                for (int j = 0; j < tk; j++) {
                    for (int d = 0; d < dim; d++) {
                        float gk = 0, gv = 0;
                        for (int i = 0; i < tq; i++) {
                            gk += ds[i][j] * q[(int) p.qIndex(b, i, h) + d];
                            gv += prob[i][j] * dout[(int) p.oIndex(b, i, h) + d];
                        }
                        dk[(int) p.kIndex(b, j, h) + d] = HostConvert.roundTo(t, gk);
                        dv[(int) p.vIndex(b, j, h) + d] = HostConvert.roundTo(t, gv);
                    }
                }
                for (int i = 0; i < tq; i++) {
                    for (int d = 0; d < dim; d++) {
                        float g = 0;
                        for (int j = 0; j < tk; j++) g += ds[i][j] * k[(int) p.kIndex(b, j, h) + d];
                        dq[(int) p.qIndex(b, i, h) + d] = HostConvert.roundTo(t, g);
                    }
                }
            }
        }
        return new Baseline(out, lse, dq, dk, dv);
    }
}
