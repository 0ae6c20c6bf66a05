package dev.sumi.ops;

import dev.sumi.device.Dim3;
import dev.sumi.device.HostDevice;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.HostConvert;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.Budget;
import dev.sumi.testing.Devices;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What {@link AttentionOpsContract} (run on the host device by HostAttentionOpsTest) does not reach in
 * {@link HostAttention}: the row kernels of attention_rows.cu against a plain F64 computation, the
 * chunking of heads when the workspace budget is small, and the workspace being reused.
 */
class HostAttentionTest {

    private static final HostDevice HOST = Devices.host();

    /** F32 results within a few float ulps of the F64 value (at least of 1, the size of a probability). */
    private static void assertClose(String what, float[] got, double[] ref) {
        double budget = 0;
        for (double r : ref) budget = Math.max(budget, Math.abs(r));
        budget = 16 * 0x1p-24 * Math.max(1, budget);
        double err = Budget.maxAbsError(got, ref);
        assertTrue(err <= budget, what + ": error " + err + " > " + budget);
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "F16", "BF16"})
    void rowKernelsMatchF64(DType t) {
        int heads = 2, tq = 9, tk = 9;   // causal needs Tq == Tk; row r is query r % Tq
        int rows = heads * tq, n = rows * tk;
        Random r = new Random(7);
        float[] s = new float[n], dp = new float[n], delta = new float[rows];
        for (int i = 0; i < n; i++) {
            s[i] = (r.nextFloat() * 2 - 1) * 6;
            dp[i] = r.nextFloat() * 2 - 1;
        }
        for (int i = 0; i < rows; i++) delta[i] = r.nextFloat() - 0.5f;
        for (int causal = 0; causal <= 1; causal++) {
            double[] refLse = new double[rows], refP = new double[n], refDs = new double[n];
            for (int row = 0; row < rows; row++) {
                int visible = causal == 1 ? row % tq + 1 : tk;
                double m = Double.NEGATIVE_INFINITY, sum = 0;
                for (int j = 0; j < visible; j++) m = Math.max(m, s[row * tk + j]);
                for (int j = 0; j < visible; j++) sum += Math.exp(s[row * tk + j] - m);
                refLse[row] = m + Math.log(sum);
                for (int j = 0; j < visible; j++) refP[row * tk + j] = Math.exp(s[row * tk + j] - refLse[row]);
            }
            try (Tensor score = Tensor.fromFloats(HOST, DType.F32, s, n); Tensor prob = Tensor.allocate(HOST, t, n);
                 Tensor lse = Tensor.allocate(HOST, DType.F32, rows)) {
                // forward mode finds lse; backward mode reads it
                HOST.launch("attention_rows_probs_" + t.kernelSuffix(), Dim3.of(1), Dim3.of(32), 0, prob, score, lse, (long) rows, tq, 0, tk, causal, 1);
                float[] pf = score.toFloats(), pt = prob.toFloats(), lseGot = lse.toFloats();
                assertClose(t + " causal " + causal + " lse", lseGot, refLse);
                assertClose(t + " causal " + causal + " P", pf, refP);
                for (int i = 0; i < n; i++) assertEquals(HostConvert.roundTo(t, pf[i]), pt[i], t + " P in storage type, element " + i);

                score.copyFrom(s);
                HOST.launch("attention_rows_probs_" + t.kernelSuffix(), Dim3.of(1), Dim3.of(32), 0, prob, score, lse, (long) rows, tq, 0, tk, causal, 0);
                pf = score.toFloats();
                assertClose(t + " causal " + causal + " P from lse", pf, refP);
                for (int i = 0; i < n; i++) refDs[i] = (double) pf[i] * ((double) dp[i] - delta[i / tk]);
                try (Tensor dprob = Tensor.fromFloats(HOST, DType.F32, dp, n); Tensor dscore = Tensor.allocate(HOST, t, n);
                     Tensor tdelta = Tensor.fromFloats(HOST, DType.F32, delta, rows)) {
                    HOST.launch("attention_rows_dscores_" + t.kernelSuffix(), Dim3.of(1), Dim3.of(32), 0, dscore, dprob, score, tdelta, (long) rows, tk);
                    float[] ds = dscore.toFloats();
                    for (int i = 0; i < n; i++) {
                        float want = HostConvert.roundTo(t, (float) refDs[i]);
                        // float math then one rounding to t, against F64 rounded to t: within 2 ulps of t (F16's subnormals: 2^-24)
                        double ulp = t == DType.F32 ? Math.ulp(want) : Math.ulp(want) * (t == DType.F16 ? 8192 : 65536);
                        double tol = 2 * ulp + (t == DType.F16 ? 0x1p-24 : 0);
                        assertTrue(Math.abs(ds[i] - want) <= tol, t + " dS element " + i + ": " + ds[i] + " vs " + want);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "BF16"})
    void headChunksGiveTheSameBitsAsOneChunk(DType t) {
        AttentionParams p = AttentionParams.packed(2, 3, 33, 33, 8, true);
        int nq = 2 * 33 * 3 * 8;
        Random r = new Random(11);
        float[][] in = new float[4][nq];
        for (float[] x : in) for (int i = 0; i < nq; i++) x[i] = r.nextFloat() * 2 - 1;
        float[][] whole = run(t, p, in, Long.MAX_VALUE), single = run(t, p, in, 33 * 33 * (t == DType.F32 ? 8 : 10));
        assertEquals(new HostAttention.Chunks(3, 33, t == DType.F32 ? 8 : 10, 33), HostAttention.Chunks.of(p, t, true, Long.MAX_VALUE));
        assertEquals(2, HostAttention.Chunks.of(p, t, true, 2 * 33 * 33 * (t == DType.F32 ? 8 : 10)).heads());
        String[] names = {"out", "lse", "dq", "dk", "dv"};
        for (int i = 0; i < names.length; i++) Budget.assertExact(t + " " + names[i] + " by one head at a time", whole[i], single[i]);
    }

    @org.junit.jupiter.api.Test
    void queryBlocksOfOneHeadMatchOneBlock() {
        AttentionParams p = AttentionParams.packed(1, 2, 33, 33, 8, true);
        int nq = 33 * 2 * 8;
        Random r = new Random(13);
        float[][] in = new float[4][nq];
        for (float[] x : in) for (int i = 0; i < nq; i++) x[i] = r.nextFloat() * 2 - 1;
        long fiveRows = 5 * 33 * 8;   // F32 backward: 8 bytes per score
        assertEquals(new HostAttention.Chunks(1, 5, 8, 33), HostAttention.Chunks.of(p, DType.F32, true, fiveRows));
        assertEquals(1, HostAttention.Chunks.of(p, DType.F32, true, 1).queries(), "at least one row");
        float[][] whole = run(DType.F32, p, in, Long.MAX_VALUE), blocks = run(DType.F32, p, in, fiveRows);
        // rows of S, P, O, lse and dQ are computed as in one block; dK and dV add 7 blocks in float
        String[] names = {"out", "lse", "dq"};
        for (int i = 0; i < names.length; i++) Budget.assertExact("F32 " + names[i] + " by blocks of 5 queries", whole[i], blocks[i]);
        for (int i = 3; i < 5; i++) {
            double[] ref = new double[whole[i].length];
            for (int j = 0; j < ref.length; j++) ref[j] = whole[i][j];
            assertClose("F32 " + (i == 3 ? "dk" : "dv") + " by blocks of 5 queries", blocks[i], ref);
        }
    }

    /** out, lse, dq, dk, dv of q, k, v, dout = in[0..3], with chunks sized for {@code budget}; checks the workspace is reused. */
    private static float[][] run(DType t, AttentionParams p, float[][] in, long budget) {
        long[] dims = {p.batch(), p.queries(), p.heads(), p.headDim()};
        try (Tensor q = Tensor.fromFloats(HOST, t, in[0], dims); Tensor k = Tensor.fromFloats(HOST, t, in[1], dims);
             Tensor v = Tensor.fromFloats(HOST, t, in[2], dims); Tensor dout = Tensor.fromFloats(HOST, t, in[3], dims);
             Tensor out = Tensor.allocate(HOST, t, dims); Tensor lse = Tensor.allocate(HOST, DType.F32, p.rows());
             Tensor delta = Tensor.allocate(HOST, DType.F32, p.rows()); Tensor dq = Tensor.allocate(HOST, t, dims);
             Tensor dk = Tensor.allocate(HOST, t, dims); Tensor dv = Tensor.allocate(HOST, t, dims)) {
            HostAttention.forward(HOST, out, lse, q, k, v, p, budget);
            HostAttention.backward(HOST, dq, dk, dv, delta, dout, out, lse, q, k, v, p, budget);
            long free = HOST.memoryInfo().free();
            HostAttention.forward(HOST, out, lse, q, k, v, p, budget);
            HostAttention.backward(HOST, dq, dk, dv, delta, dout, out, lse, q, k, v, p, budget);
            assertEquals(free, HOST.memoryInfo().free(), "a second step allocates nothing");
            return new float[][] {out.toFloats(), lse.toFloats(), dq.toFloats(), dk.toFloats(), dv.toFloats()};
        }
    }
}
