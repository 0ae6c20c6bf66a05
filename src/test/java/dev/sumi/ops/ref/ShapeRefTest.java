package dev.sumi.ops.ref;

import dev.sumi.testing.FiniteDifference;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Tier 1: the shape references' backward against central differences, and the timestep embedding's layout. */
class ShapeRefTest {

    @Test
    void upsampleGradient() {
        int planes = 3, H = 3, W = 5;
        Random r = new Random(31);
        double[] x = FiniteDifference.random(r, planes * H * W, 1), dout = FiniteDifference.random(r, planes * 4 * H * W, 1);
        double[] dx = new double[x.length];
        ShapeRef.upsampleNearest2xBackward(dx, dout, planes, H, W);
        FiniteDifference.check("upsample dx", x, dout, xx -> {
            double[] o = new double[dout.length];
            ShapeRef.upsampleNearest2xForward(o, xx, planes, H, W);
            return o;
        }, dx, 100);
    }

    @Test
    void concatGradient() {
        int N = 3, Ca = 2, Cb = 3, HW = 5;
        Random r = new Random(32);
        double[] a = FiniteDifference.random(r, N * Ca * HW, 1), b = FiniteDifference.random(r, N * Cb * HW, 1);
        double[] dout = FiniteDifference.random(r, N * (Ca + Cb) * HW, 1);
        double[] da = new double[a.length], db = new double[b.length];
        ShapeRef.concatChannelsBackward(da, db, dout, N, Ca, Cb, HW);
        FiniteDifference.check("concat da", a, dout, aa -> cat(aa, b, N, Ca, Cb, HW), da, 100);
        FiniteDifference.check("concat db", b, dout, bb -> cat(a, bb, N, Ca, Cb, HW), db, 100);
    }

    private static double[] cat(double[] a, double[] b, int N, int Ca, int Cb, int HW) {
        double[] o = new double[N * (Ca + Cb) * HW];
        ShapeRef.concatChannelsForward(o, a, b, N, Ca, Cb, HW);
        return o;
    }

    @Test
    void embeddingGradientsWithRepeatedIds() {
        int B = 3, T = 4, C = 5, V = 6, P = 7;
        int[] ids = {0, 5, 5, 2, 5, 0, 1, 3, 2, 2, 2, 4};
        Random r = new Random(33);
        double[] tok = FiniteDifference.random(r, V * C, 1), pos = FiniteDifference.random(r, P * C, 1);
        double[] dout = FiniteDifference.random(r, B * T * C, 1);
        double[] dtok = new double[tok.length], dpos = new double[pos.length];
        ShapeRef.embeddingBackward(dtok, dpos, dout, ids, B, T, C);
        FiniteDifference.check("embedding dtok", tok, dout, tt -> emb(ids, tt, pos, B, T, C), dtok, 100);
        FiniteDifference.check("embedding dpos", pos, dout, pp -> emb(ids, tok, pp, B, T, C), dpos, 100);
    }

    private static double[] emb(int[] ids, double[] tok, double[] pos, int B, int T, int C) {
        double[] o = new double[B * T * C];
        ShapeRef.embeddingForward(o, ids, tok, pos, B, T, C);
        return o;
    }

    @Test
    void timestepEmbeddingLayout() {
        // SD: flip_sin_to_cos=True, shift 0: row = [cos(t f_0..f_{h-1}) | sin(t f_0..f_{h-1})], f_k = 10000^(-k/h)
        int dim = 7, half = 3;
        double[] out = new double[dim];
        ShapeRef.timestepEmbedding(out, new double[] {10}, 1, dim, true, 0, 10000);
        for (int k = 0; k < half; k++) {
            double f = Math.pow(10000, -(double) k / half);
            assertEquals(Math.cos(10 * f), out[k], 1e-15);
            assertEquals(Math.sin(10 * f), out[half + k], 1e-15);
        }
        assertEquals(0, out[dim - 1], 0, "odd dim: zero padding last");
        ShapeRef.timestepEmbedding(out, new double[] {10}, 1, dim, false, 1, 10000);
        assertEquals(Math.sin(10 * Math.pow(10000, -1.0 / (half - 1))), out[1], 1e-15, "no flip, shift 1: sin first, k / (half - 1)");
    }
}
