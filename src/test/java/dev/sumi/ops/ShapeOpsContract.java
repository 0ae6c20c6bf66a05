package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.ops.ref.ShapeRef;
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
import java.util.stream.Stream;

import static dev.sumi.ops.OpsTesting.random;
import static dev.sumi.ops.OpsTesting.round;
import static dev.sumi.ops.OpsTesting.wide;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Shape kernels in every dtype on odd sizes. Upsampling, concatenation and the embedding lookup move
 * or add values in float and round once, in an order the Java emulation repeats, so they must match
 * bit for bit (repeated token ids included); the F64 references check that the emulations are the
 * ops. The timestep embedding gets the flash-attention budget against {@link ShapeRef}.
 */
public abstract class ShapeOpsContract {

    protected abstract Device device();

    static Stream<Arguments> nchw() {
        List<Arguments> a = new ArrayList<>();
        for (DType t : OpsTesting.FLOATS) {
            a.add(Arguments.of(t, 1, 3, 5, 7));
            a.add(Arguments.of(t, 3, 2, 1, 1));
            a.add(Arguments.of(t, 3, 5, 4, 9));
        }
        return a.stream();
    }

    @ParameterizedTest(name = "{0} {1}x{2}x{3}x{4}")
    @MethodSource("nchw")
    void upsampleNearest2x(DType t, int N, int C, int H, int W) {
        int planes = N * C, n = planes * H * W;
        float[] x = random(t, n, 51, 3f), dout = random(t, 4 * n, 52, 3f);
        double[] ref = new double[4 * n], dref = new double[n];
        ShapeRef.upsampleNearest2xForward(ref, wide(x), planes, H, W);
        ShapeRef.upsampleNearest2xBackward(dref, wide(dout), planes, H, W);
        float[] expected = new float[4 * n], dexpected = new float[n];
        for (int i = 0; i < 4 * n; i++) expected[i] = (float) ref[i];
        for (int p = 0; p < planes; p++) {
            for (int y = 0; y < H; y++) {
                for (int xx = 0; xx < W; xx++) {
                    int c = (p * 2 * H + 2 * y) * 2 * W + 2 * xx;
                    dexpected[(p * H + y) * W + xx] = HostConvert.roundTo(t, ((dout[c] + dout[c + 1]) + dout[c + 2 * W]) + dout[c + 2 * W + 1]);
                }
            }
        }
        Device d = device();
        try (Tensor tx = Tensor.fromFloats(d, t, x, N, C, H, W); Tensor out = Tensor.allocate(d, t, N, C, 2 * H, 2 * W);
             Tensor tdout = Tensor.fromFloats(d, t, dout, N, C, 2 * H, 2 * W); Tensor dx = Tensor.allocate(d, t, N, C, H, W)) {
            ShapeOps.upsampleNearest2x(out, tx);
            Budget.assertExact("upsample " + t, expected, out.toFloats());
            ShapeOps.upsampleNearest2xBackward(dx, tdout);
            float[] got = dx.toFloats();
            Budget.assertExact("upsample backward " + t, dexpected, got);
            OpsTesting.within("upsample backward " + t + " vs F64", got, dexpected, dref, 0);
        }
    }

    @ParameterizedTest(name = "{0} N={1} Ca={2} H={3} W={4}")
    @MethodSource("nchw")
    void concatChannels(DType t, int N, int Ca, int H, int W) {
        int Cb = Ca + 2, HW = H * W;
        float[] a = random(t, N * Ca * HW, 53, 3f), b = random(t, N * Cb * HW, 54, 3f), dout = random(t, N * (Ca + Cb) * HW, 55, 3f);
        double[] ref = new double[dout.length], da = new double[a.length], db = new double[b.length];
        ShapeRef.concatChannelsForward(ref, wide(a), wide(b), N, Ca, Cb, HW);
        ShapeRef.concatChannelsBackward(da, db, wide(dout), N, Ca, Cb, HW);
        Device d = device();
        try (Tensor ta = Tensor.fromFloats(d, t, a, N, Ca, H, W); Tensor tb = Tensor.fromFloats(d, t, b, N, Cb, H, W);
             Tensor out = Tensor.allocate(d, t, N, Ca + Cb, H, W); Tensor tdout = Tensor.fromFloats(d, t, dout, N, Ca + Cb, H, W);
             Tensor tda = Tensor.allocate(d, t, N, Ca, H, W); Tensor tdb = Tensor.allocate(d, t, N, Cb, H, W)) {
            ShapeOps.concatChannels(out, ta, tb);
            Budget.assertExact("concat " + t, narrow(ref), out.toFloats());
            ShapeOps.concatChannelsBackward(tda, tdb, tdout);
            Budget.assertExact("concat backward a " + t, narrow(da), tda.toFloats());
            Budget.assertExact("concat backward b " + t, narrow(db), tdb.toFloats());
        }
    }

    static float[] narrow(double[] x) {
        float[] f = new float[x.length];
        for (int i = 0; i < x.length; i++) f[i] = (float) x[i];
        return f;
    }

    static Stream<Arguments> timesteps() {
        List<Arguments> a = new ArrayList<>();
        for (DType t : OpsTesting.FLOATS) {
            a.add(Arguments.of(t, 320, true, 0f));   // SD 1.5's UNet: Timesteps(320, flip_sin_to_cos=True, 0)
            a.add(Arguments.of(t, 7, true, 0f));     // odd: a zero column
            a.add(Arguments.of(t, 33, false, 1f));   // diffusers' defaults
        }
        return a.stream();
    }

    @ParameterizedTest(name = "{0} dim={1} flip={2} shift={3}")
    @MethodSource("timesteps")
    void timestepEmbedding(DType t, int dim, boolean flip, float shift) {
        float[] ts = {999f, 0f, 500.5f, 1f, 37f};
        int N = ts.length, half = dim / 2;
        double[] ref = new double[N * dim];
        ShapeRef.timestepEmbedding(ref, wide(ts), N, dim, flip, shift, 10000);
        // PyTorch's float32 sequence: exponent = (-ln(10000) * k) / (half - shift); freq = exp; arg = t * freq
        float nl = (float) -Math.log(10000), maxT = 0;
        float[] base = new float[N * dim];
        for (int n = 0; n < N; n++) {
            maxT = Math.max(maxT, Math.abs(ts[n]));
            for (int k = 0; k < half; k++) {
                float freq = (float) Math.exp((nl * k) / (half - shift)), arg = ts[n] * freq;
                float c = (float) Math.cos(arg), s = (float) Math.sin(arg);
                base[n * dim + k] = flip ? c : s;
                base[n * dim + half + k] = flip ? s : c;
            }
        }
        Device d = device();
        try (Tensor tt = Tensor.fromFloats(d, DType.F32, ts, N); Tensor out = Tensor.allocate(d, t, N, dim)) {
            if (flip && shift == 0) ShapeOps.timestepEmbedding(out, tt);
            else ShapeOps.timestepEmbedding(out, tt, flip, shift, 10000f);
            // floor: the float argument t * freq is only known to an ulp of the largest t, and sin/cos pass that on
            Budget.assertWithin("timestep embedding " + t + " dim " + dim, out.toFloats(), round(t, base), ref, 2.0, 4 * Math.ulp(maxT));
        }
    }

    static Stream<Arguments> embeddings() {
        List<Arguments> a = new ArrayList<>();
        for (DType t : OpsTesting.FLOATS) {
            a.add(Arguments.of(t, 3, 4, 5, 6));     // B, T, C, V: ids repeat within and across sequences
            a.add(Arguments.of(t, 1, 77, 300, 50));  // CLIP's 77 positions, C past the block
        }
        return a.stream();
    }

    @ParameterizedTest(name = "{0} B={1} T={2} C={3} V={4}")
    @MethodSource("embeddings")
    void tokenAndPositionEmbedding(DType t, int B, int T, int C, int V) {
        int P = T + 2, BT = B * T;
        int[] ids = new int[BT];
        java.util.Random r = new java.util.Random(56);
        for (int i = 0; i < BT; i++) ids[i] = i % 3 == 0 ? 2 : r.nextInt(V);  // id 2 many times
        float[] tok = random(t, V * C, 57, 1f), pos = random(t, P * C, 58, 1f), dout = random(t, BT * C, 59, 1f);
        float[] dtok0 = random(t, V * C, 60, 1f), dpos0 = random(t, P * C, 61, 1f);
        double[] ref = new double[BT * C], dtokRef = wide(dtok0), dposRef = wide(dpos0);
        ShapeRef.embeddingForward(ref, ids, wide(tok), wide(pos), B, T, C);
        ShapeRef.embeddingBackward(dtokRef, dposRef, wide(dout), ids, B, T, C);
        // the kernels' order: tokens in sequence order, one rounding per +=; positions summed over b, then one +=
        float[] out = new float[BT * C], dtok = dtok0.clone(), dpos = dpos0.clone();
        for (int bt = 0; bt < BT; bt++) {
            for (int c = 0; c < C; c++) {
                out[bt * C + c] = HostConvert.roundTo(t, tok[ids[bt] * C + c] + pos[(bt % T) * C + c]);
                dtok[ids[bt] * C + c] = HostConvert.roundTo(t, dtok[ids[bt] * C + c] + dout[bt * C + c]);
            }
        }
        for (int i = 0; i < T * C; i++) {
            float s = 0;
            for (int b = 0; b < B; b++) s += dout[b * T * C + i];
            dpos[i] = HostConvert.roundTo(t, dpos[i] + s);
        }
        String what = "embedding " + t + " " + B + "x" + T + "x" + C;
        Device d = device();
        try (Tensor tids = Tensor.fromInts(d, ids, B, T); Tensor ttok = Tensor.fromFloats(d, t, tok, V, C);
             Tensor tpos = Tensor.fromFloats(d, t, pos, P, C); Tensor tout = Tensor.allocate(d, t, B, T, C);
             Tensor tdout = Tensor.fromFloats(d, t, dout, B, T, C); Tensor tdtok = Tensor.fromFloats(d, t, dtok0, V, C);
             Tensor tdpos = Tensor.fromFloats(d, t, dpos0, P, C)) {
            ShapeOps.embedding(tout, tids, ttok, tpos);
            Budget.assertExact(what, out, tout.toFloats());
            ShapeOps.embeddingBackward(tdtok, tdpos, tdout, tids);
            float[] gotTok = tdtok.toFloats(), gotPos = tdpos.toFloats();
            Budget.assertExact(what + " dtok (+=, repeated ids)", dtok, gotTok);
            Budget.assertExact(what + " dpos (+=)", dpos, gotPos);
            if (t == DType.F32) {
                // and the emulation is the op: within recursive summation's bound of the F64 scatter-add
                double bound = 0;
                for (float v : dout) bound += Math.abs(v);
                bound = BT * OpsTesting.U * (bound + OpsTesting.maxAbs(wide(dtok0)));
                assertTrue(Budget.maxAbsError(gotTok, dtokRef) <= bound, "dtok vs F64");
                assertTrue(Budget.maxAbsError(gotPos, dposRef) <= bound, "dpos vs F64");
            }
        }
    }

    @Test
    void outOfRangeIdsGiveNaNAndNoGradient() {
        Device d = device();
        int C = 3;
        float[] tok = {1, 2, 3, 4, 5, 6}, pos = {0, 0, 0, 0, 0, 0};
        try (Tensor ids = Tensor.fromInts(d, new int[] {1, 7}, 1, 2); Tensor ttok = Tensor.fromFloats(d, DType.F32, tok, 2, C);
             Tensor tpos = Tensor.fromFloats(d, DType.F32, pos, 2, C); Tensor out = Tensor.allocate(d, DType.F32, 1, 2, C);
             Tensor dout = Tensor.fromFloats(d, DType.F32, new float[] {1, 1, 1, 1, 1, 1}, 1, 2, C);
             Tensor dtok = Tensor.fromFloats(d, DType.F32, new float[6], 2, C); Tensor dpos = Tensor.fromFloats(d, DType.F32, new float[6], 2, C)) {
            ShapeOps.embedding(out, ids, ttok, tpos);
            float[] o = out.toFloats();
            Budget.assertExact("in-range row", new float[] {4, 5, 6}, java.util.Arrays.copyOf(o, 3));
            for (int c = 0; c < C; c++) assertTrue(Float.isNaN(o[C + c]), "id 7 of 2 gives NaN");
            ShapeOps.embeddingBackward(dtok, dpos, dout, ids);
            Budget.assertExact("dtok", new float[] {0, 0, 0, 1, 1, 1}, dtok.toFloats());
        }
    }
}
