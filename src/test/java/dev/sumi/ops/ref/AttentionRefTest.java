package dev.sumi.ops.ref;

import dev.sumi.ops.AttentionParams;
import dev.sumi.ops.AttentionParams.Strides;
import dev.sumi.testing.FiniteDifference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Tier 1: the F64 attention reference's backward against central differences, and its forward on known cases. */
class AttentionRefTest {

    static double[] out(double[] q, double[] k, double[] v, AttentionParams p) {
        double[] o = new double[(int) p.o().extent(p.batch(), p.queries(), p.heads(), p.headDim())];
        AttentionRef.forward(o, null, q, k, v, p);
        return o;
    }

    @ParameterizedTest
    @CsvSource({
            "1, 1, 1, 1, 3, false",
            "1, 2, 3, 5, 4, false",   // cross-attention, Tq != Tk
            "2, 1, 4, 4, 3, true",    // causal
            "1, 2, 5, 5, 2, true",
    })
    void backwardMatchesFiniteDifferences(int batch, int heads, int tq, int tk, int dim, boolean causal) {
        AttentionParams p = AttentionParams.packed(batch, heads, tq, tk, dim, causal).withScale(0.7f);
        Random r = new Random(11);
        int nq = batch * tq * heads * dim, nk = batch * tk * heads * dim;
        double[] q = FiniteDifference.random(r, nq, 1.5), k = FiniteDifference.random(r, nk, 1.5), v = FiniteDifference.random(r, nk, 1);
        double[] dout = FiniteDifference.random(r, nq, 1);
        double[] dq = new double[nq], dk = new double[nk], dv = new double[nk];
        AttentionRef.backward(dq, dk, dv, dout, q, k, v, p);
        String what = "attention " + batch + "x" + heads + " " + tq + "x" + tk + " d" + dim + (causal ? " causal" : "");
        FiniteDifference.check(what + " dq", q, dout, x -> out(x, k, v, p), dq, nq);
        FiniteDifference.check(what + " dk", k, dout, x -> out(q, x, v, p), dk, nk);
        FiniteDifference.check(what + " dv", v, dout, x -> out(q, k, x, p), dv, nk);
    }

    @Test
    void forwardKnownCases() {
        Random r = new Random(12);
        // one key: out = v, lse = scale * q . k
        AttentionParams one = AttentionParams.packed(1, 1, 3, 1, 2, false);
        double[] q = FiniteDifference.random(r, 6, 1), k = {0.3, -0.2}, v = {1.5, -2.5};
        double[] o = new double[6], lse = new double[3];
        AttentionRef.forward(o, lse, q, k, v, one);
        for (int i = 0; i < 3; i++) {
            assertEquals(1.5, o[2 * i], 1e-15);
            assertEquals(-2.5, o[2 * i + 1], 1e-15);
            assertEquals(one.scale() * (q[2 * i] * 0.3 - q[2 * i + 1] * 0.2), lse[i], 1e-15);
        }
        // zero queries: uniform weights, out = mean of v over the visible keys, lse = log(count)
        AttentionParams causal = AttentionParams.packed(1, 1, 4, 4, 1, true);
        double[] vs = {1, 2, 3, 4};
        o = new double[4];
        lse = new double[4];
        AttentionRef.forward(o, lse, new double[4], new double[] {5, 6, 7, 8}, vs, causal);
        for (int i = 0; i < 4; i++) {
            assertEquals((i + 2) / 2.0, o[i], 1e-15);
            assertEquals(Math.log(i + 1), lse[i], 1e-15);
        }
    }

    @Test
    void stridedLayoutMatchesPacked() {
        // q, k, v interleaved in one fused [B, T, 3*H*D] projection give what the packed copies give
        int b = 2, t = 3, h = 2, d = 2, hd = h * d;
        Random r = new Random(13);
        double[] fused = FiniteDifference.random(r, b * t * 3 * hd, 1), dout = FiniteDifference.random(r, b * t * hd, 1);
        double[][] parts = new double[3][b * t * hd];
        for (int i = 0; i < b * t; i++) for (int part = 0; part < 3; part++) System.arraycopy(fused, i * 3 * hd + part * hd, parts[part], i * hd, hd);
        AttentionParams packed = AttentionParams.packed(b, h, t, t, d, false);
        Strides f = new Strides((long) t * 3 * hd, 3L * hd, d);
        AttentionParams strided = packed.withStrides(f, f, f, packed.o());
        double[] fk = new double[fused.length - hd], fv = new double[fused.length - 2 * hd];
        System.arraycopy(fused, hd, fk, 0, fk.length);
        System.arraycopy(fused, 2 * hd, fv, 0, fv.length);
        double[] o1 = out(parts[0], parts[1], parts[2], packed), o2 = out(fused, fk, fv, strided);
        for (int i = 0; i < o1.length; i++) assertEquals(o1[i], o2[i], 1e-14);
        double[] dq = new double[parts[0].length], dk = new double[dq.length], dv = new double[dq.length];
        AttentionRef.backward(dq, dk, dv, dout, parts[0], parts[1], parts[2], packed);
        double[] gq = new double[fused.length], gk = new double[fk.length], gv = new double[fv.length];
        AttentionRef.backward(gq, gk, gv, dout, fused, fk, fv, strided);
        for (int i = 0; i < b * t; i++) {
            for (int j = 0; j < hd; j++) {
                assertEquals(dq[i * hd + j], gq[i * 3 * hd + j], 1e-14);
                assertEquals(dk[i * hd + j], gk[i * 3 * hd + j], 1e-14);
                assertEquals(dv[i * hd + j], gv[i * 3 * hd + j], 1e-14);
            }
        }
    }
}
