package dev.sumi.device;

import dev.sumi.tensor.DType;
import dev.sumi.tensor.HostConvert;
import dev.sumi.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link Device#gemm} against a plain-Java F64 reference: every dtype pair, every transpose, sizes that
 * are not multiples of any tile (1, 7, 31, 33, 65, 127, 257), leading dimensions above the row count,
 * strided batches with gaps, generic alpha/beta, beta == 0 over a NaN-filled C, k == 0, alpha == 0,
 * and the argument checks.
 *
 * <p>Inputs are drawn uniformly from [-1, 1] and rounded to their dtype before the reference sees them,
 * so the only errors left are the F32 accumulation and the final rounding to C's dtype. The budget per
 * element is derived from those two (Higham, <i>Accuracy and Stability of Numerical Algorithms</i>, §3.1):
 * a length-k sum of products computed in F32 in any order, with or without FMA, is off by at most
 * gamma_k * sum_p |a_ip b_pj|, gamma_k ~ k*u, u = eps_f32 / 2; scaling by alpha, forming beta*c and adding
 * them are three more roundings (k + 2 in all); rounding to C's dtype adds u_out * |result|. With eps = 2u
 * and a further factor 2 for the slack in gamma_k and tensor-core accumulators that truncate:
 * <pre>
 *   |out - ref| <= 2 * ((k + 2) * eps_f32 * (|alpha| * sum_p |a_ip||b_pj| + |beta * c_ij|) + eps_out * |ref|) + floor_out
 * </pre>
 * floor_out is the smallest subnormal of C's dtype (twice the largest rounding error near zero).
 * The largest error and its ratio to the budget are printed for every case. Elements of C outside
 * the m x n matrices (the ld padding, the gaps between batches) must come back bit-for-bit unchanged,
 * and the padding of A and B holds NaN, so reading it would show.
 */
public abstract class GemmContract {

    protected abstract Device device();

    static final DType[][] TYPE_PAIRS = {
            {DType.F32, DType.F32}, {DType.F16, DType.F16}, {DType.F16, DType.F32}, {DType.BF16, DType.BF16}, {DType.BF16, DType.F32}};

    /**
     * One GEMM to check: op(A) m x k, op(B) k x n, C m x n, each matrix's ld its row count plus {@code pad},
     * each batch's stride its matrix size plus {@code gap}; {@code nanC}: C starts NaN (beta must be 0).
     */
    record Case(boolean transA, boolean transB, int m, int n, int k, DType in, DType out,
                float alpha, float beta, int batch, int pad, int gap, boolean nanC) {

        static Case of(boolean transA, boolean transB, int m, int n, int k, DType in, DType out) {
            return new Case(transA, transB, m, n, k, in, out, 1.0f, 0.0f, 1, 0, 0, true);
        }

        Case scaled(float alpha, float beta) {
            return new Case(transA, transB, m, n, k, in, out, alpha, beta, batch, pad, gap, nanC && beta == 0);
        }

        Case padded(int pad) {
            return new Case(transA, transB, m, n, k, in, out, alpha, beta, batch, pad, gap, nanC);
        }

        Case batched(int batch, int gap) {
            return new Case(transA, transB, m, n, k, in, out, alpha, beta, batch, pad, gap, nanC);
        }

        @Override
        public String toString() {
            return (transA ? "T" : "N") + (transB ? "T" : "N") + " " + m + "x" + n + "x" + k + " " + in + "->" + out
                    + (alpha != 1 || beta != 0 ? " alpha=" + alpha + " beta=" + beta : "")
                    + (batch > 1 ? " batch=" + batch + " gap=" + gap : "") + (pad > 0 ? " pad=" + pad : "")
                    + (nanC ? " C=NaN" : "");
        }
    }

    // ---- cases -----------------------------------------------------------------------------------

    static Stream<Arguments> everyTypeAndTranspose() {
        List<Arguments> a = new ArrayList<>();
        for (DType[] t : TYPE_PAIRS) {
            for (int tr = 0; tr < 4; tr++) a.add(Arguments.of(Case.of((tr & 2) != 0, (tr & 1) != 0, 33, 31, 65, t[0], t[1]).padded(3)));
        }
        return a.stream();
    }

    /** Sizes around the micro-tiles (8x4, 16x6, 32x12) and the KC blocks; m tiny with n large is solved transposed. */
    static Stream<Arguments> oddSizes() {
        int[][] sizes = {{1, 1, 1}, {7, 5, 3}, {31, 33, 17}, {65, 7, 127}, {127, 65, 33}, {257, 31, 7}, {5, 300, 40},
                {1, 257, 31}, {16, 100, 9}, {300, 3, 41}, {64, 64, 700}};
        List<Arguments> a = new ArrayList<>();
        for (int i = 0; i < sizes.length; i++) {
            int[] s = sizes[i];
            DType[] t1 = TYPE_PAIRS[i % TYPE_PAIRS.length], t2 = TYPE_PAIRS[(i + 2) % TYPE_PAIRS.length];
            a.add(Arguments.of(Case.of(i % 2 == 1, i % 3 == 1, s[0], s[1], s[2], t1[0], t1[1]).padded(i % 3)));
            a.add(Arguments.of(Case.of(i % 2 == 0, i % 3 != 1, s[0], s[1], s[2], t2[0], t2[1])));
        }
        return a.stream();
    }

    static Stream<Arguments> alphaBeta() {
        List<Arguments> a = new ArrayList<>();
        int i = 0;
        for (DType[] t : TYPE_PAIRS) {
            a.add(Arguments.of(Case.of(i % 2 == 0, i % 2 == 1, 65, 33, 129, t[0], t[1]).scaled(0.75f, -1.25f).padded(2)));
            a.add(Arguments.of(Case.of(i % 2 == 1, true, 7, 90, 20, t[0], t[1]).scaled(-2.0f, 0.5f)));
            i++;
        }
        return a.stream();
    }

    static Stream<Arguments> stridedBatches() {
        return Stream.of(
                Arguments.of(Case.of(false, false, 33, 65, 31, DType.F32, DType.F32).scaled(1.5f, 0).batched(8, 5).padded(1)),
                Arguments.of(Case.of(true, false, 33, 65, 31, DType.BF16, DType.F32).batched(8, 5)),
                Arguments.of(Case.of(false, true, 17, 20, 64, DType.F16, DType.F16).scaled(1, 1).batched(6, 3)),
                Arguments.of(Case.of(true, true, 130, 120, 100, DType.BF16, DType.BF16).scaled(1, 0.5f).batched(3, 7)),
                Arguments.of(Case.of(false, false, 7, 300, 20, DType.F32, DType.F32).scaled(1, 2).batched(2, 0)));
    }

    /** k spans several KC blocks (F16/BF16 C then sums in an F32 scratch before its one rounding). */
    static Stream<Arguments> longK() {
        return Stream.of(
                Arguments.of(Case.of(false, true, 129, 130, 1000, DType.F32, DType.F32).scaled(1, -1)),
                Arguments.of(Case.of(true, false, 129, 130, 1000, DType.BF16, DType.BF16)),
                Arguments.of(Case.of(false, false, 50, 40, 1500, DType.F16, DType.F16).scaled(0.5f, 1)));
    }

    static Stream<Arguments> cube256() {
        return Stream.of(
                Arguments.of(Case.of(false, false, 256, 256, 256, DType.F32, DType.F32)),
                Arguments.of(Case.of(true, false, 256, 256, 256, DType.BF16, DType.BF16)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("everyTypeAndTranspose")
    void everyTypeAndTranspose(Case c) {
        check(c);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("oddSizes")
    void oddSizes(Case c) {
        check(c);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("alphaBeta")
    void alphaBeta(Case c) {
        check(c);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("stridedBatches")
    void stridedBatches(Case c) {
        check(c);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("longK")
    void longK(Case c) {
        check(c);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cube256")
    void cube256(Case c) {
        check(c);
    }

    @Test
    void kZeroScalesC() {
        check(Case.of(false, false, 31, 17, 0, DType.F32, DType.F32).scaled(1, 0.5f).padded(1));
        check(Case.of(true, true, 31, 17, 0, DType.BF16, DType.BF16).scaled(1, -3).padded(1));
        check(Case.of(false, true, 31, 17, 0, DType.F16, DType.F16).padded(1));   // beta = 0 over NaN: zeros
    }

    @Test
    void alphaZeroScalesC() {
        check(Case.of(true, false, 31, 17, 12, DType.F32, DType.F32).scaled(0, -0.5f).batched(2, 3));
        check(Case.of(false, false, 31, 17, 12, DType.F16, DType.F32).scaled(0, 0));
    }

    @Test
    void emptyProblemsChangeNothing() {
        float[] init = new float[12];
        Arrays.fill(init, 7.0f);
        try (Tensor a = Tensor.fromFloats(device(), DType.F32, init, 12);
             Tensor b = Tensor.fromFloats(device(), DType.F32, init, 12);
             Tensor c = Tensor.fromFloats(device(), DType.F32, init, 12)) {
            device().gemm(GemmParams.of(false, false, 0, 3, 2, 1, a, 1, b, 2, 0, c, 1));   // m = 0
            device().gemm(GemmParams.of(false, false, 3, 0, 2, 1, a, 3, b, 2, 0, c, 3));   // n = 0
            device().synchronize();
            assertTrue(Arrays.equals(init, c.toFloats()), "C changed by an empty GEMM");
        }
    }

    // ---- argument checks (GemmParams.validate, which every Device.gemm runs first) ----------------

    @Test
    void mismatchedInputTypesAreRejected() {
        try (Tensor a = Tensor.allocate(device(), DType.F32, 16); Tensor b = Tensor.allocate(device(), DType.BF16, 16);
             Tensor c = Tensor.allocate(device(), DType.F32, 16)) {
            expectRejected(GemmParams.of(false, false, 4, 4, 4, 1, a, 4, b, 4, 0, c, 4), "must match");
        }
    }

    @Test
    void outputTypeMustBeInputTypeOrF32() {
        try (Tensor a = Tensor.allocate(device(), DType.F16, 16); Tensor b = Tensor.allocate(device(), DType.F16, 16);
             Tensor c = Tensor.allocate(device(), DType.BF16, 16)) {
            expectRejected(GemmParams.of(false, false, 4, 4, 4, 1, a, 4, b, 4, 0, c, 4), "C must be F16 or F32");
        }
        try (Tensor a = Tensor.allocate(device(), DType.F32, 16); Tensor b = Tensor.allocate(device(), DType.F32, 16);
             Tensor c = Tensor.allocate(device(), DType.F16, 16)) {
            expectRejected(GemmParams.of(false, false, 4, 4, 4, 1, a, 4, b, 4, 0, c, 4), "C must be F32");
        }
    }

    @Test
    void leadingDimensionsBelowTheRowCountAreRejected() {
        try (Tensor a = Tensor.allocate(device(), DType.F32, 64); Tensor b = Tensor.allocate(device(), DType.F32, 64);
             Tensor c = Tensor.allocate(device(), DType.F32, 64)) {
            expectRejected(GemmParams.of(false, false, 4, 4, 4, 1, a, 3, b, 4, 0, c, 4), "lda=3");
            expectRejected(GemmParams.of(false, true, 4, 5, 4, 1, a, 4, b, 4, 0, c, 4), "ldb=4");   // op(B) = B^T: B is 5 x 4
            expectRejected(GemmParams.of(false, false, 4, 4, 4, 1, a, 4, b, 4, 0, c, 2), "ldc=2");
        }
    }

    @Test
    void operandsReachingPastTheirTensorAreRejected() {
        try (Tensor a = Tensor.allocate(device(), DType.F32, 15); Tensor b = Tensor.allocate(device(), DType.F32, 16);
             Tensor c = Tensor.allocate(device(), DType.F32, 16)) {
            expectRejected(GemmParams.of(false, false, 4, 4, 4, 1, a, 4, b, 4, 0, c, 4), "A (4x4");
            // a batch stride that walks C off its end
            expectRejected(new GemmParams(false, false, 2, 2, 2, 1, b, 2, 0, b, 2, 0, 0, c, 2, 8, 3), "C (2x2");
        }
    }

    @Test
    void badSizesAreRejected() {
        try (Tensor a = Tensor.allocate(device(), DType.F32, 16)) {
            expectRejected(GemmParams.of(false, false, 4, -1, 4, 1, a, 4, a, 4, 0, a, 4), "bad sizes");
            expectRejected(new GemmParams(false, false, 2, 2, 2, 1, a, 2, 0, a, 2, 0, 0, a, 2, 0, 0), "bad sizes");
        }
    }

    private void expectRejected(GemmParams p, String messagePart) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> device().gemm(p));
        assertTrue(e.getMessage().contains(messagePart), "message \"" + e.getMessage() + "\" should mention \"" + messagePart + "\"");
    }

    // ---- the check ---------------------------------------------------------------------------------

    /** Elements a column-major rows x cols matrix with leading dimension ld spans, over the batches. */
    static long span(long rows, long cols, long ld, long stride, int batch) {
        if (rows == 0 || cols == 0) return 1;
        return (batch - 1) * stride + (cols - 1) * ld + rows;
    }

    void check(Case c) {
        final int aRows = c.transA ? c.k : c.m, aCols = c.transA ? c.m : c.k;
        final int bRows = c.transB ? c.n : c.k, bCols = c.transB ? c.k : c.n;
        final long lda = Math.max(1, aRows) + c.pad, ldb = Math.max(1, bRows) + c.pad, ldc = Math.max(1, c.m) + c.pad;
        final long strideA = lda * aCols + c.gap, strideB = ldb * bCols + c.gap, strideC = ldc * c.n + c.gap;
        final float[] a = new float[Math.toIntExact(span(aRows, aCols, lda, strideA, c.batch))];
        final float[] b = new float[Math.toIntExact(span(bRows, bCols, ldb, strideB, c.batch))];
        final float[] c0 = new float[Math.toIntExact(span(c.m, c.n, ldc, strideC, c.batch))];
        SplittableRandom rnd = new SplittableRandom(c.toString().hashCode());
        Arrays.fill(a, Float.NaN);   // padding: NaN, so that reading it would show
        Arrays.fill(b, Float.NaN);
        Arrays.fill(c0, HostConvert.roundTo(c.out, 12345.0f));   // padding of C: must come back unchanged
        for (int bi = 0; bi < c.batch; bi++) {
            fill(a, bi * strideA, aRows, aCols, lda, c.in, rnd, false);
            fill(b, bi * strideB, bRows, bCols, ldb, c.in, rnd, false);
            fill(c0, bi * strideC, c.m, c.n, ldc, c.out, rnd, c.nanC);
        }

        float[] got;
        try (Tensor ta = Tensor.fromFloats(device(), c.in, a, a.length);
             Tensor tb = Tensor.fromFloats(device(), c.in, b, b.length);
             Tensor tc = Tensor.fromFloats(device(), c.out, c0, c0.length)) {
            device().gemm(new GemmParams(c.transA, c.transB, c.m, c.n, c.k, c.alpha, ta, lda, strideA, tb, ldb, strideB,
                    c.beta, tc, ldc, strideC, c.batch));
            device().synchronize();
            got = tc.toFloats();
        }

        final double epsF32 = DType.F32.epsilon(), epsOut = c.out.epsilon(), floor = smallestSubnormal(c.out);
        double maxErr = 0, maxRatio = 0;
        int bad = 0;
        StringBuilder firstBad = new StringBuilder();
        boolean[] inside = new boolean[c0.length];
        for (int bi = 0; bi < c.batch; bi++) {
            for (int j = 0; j < c.n; j++) {
                for (int i = 0; i < c.m; i++) {
                    double sum = 0, sumAbs = 0;
                    if (c.alpha != 0) {
                        for (int p = 0; p < c.k; p++) {
                            double av = a[(int) (bi * strideA + (c.transA ? p + i * lda : i + p * lda))];
                            double bv = b[(int) (bi * strideB + (c.transB ? j + p * ldb : p + j * ldb))];
                            sum += av * bv;
                            sumAbs += Math.abs(av * bv);
                        }
                    }
                    int ci = (int) (bi * strideC + i + j * ldc);
                    inside[ci] = true;
                    double old = c.beta == 0 ? 0 : c0[ci];
                    double ref = (double) c.alpha * sum + (double) c.beta * old;
                    double budget = 2 * ((c.k + 2) * epsF32 * (Math.abs(c.alpha) * sumAbs + Math.abs(c.beta * old)) + epsOut * Math.abs(ref)) + floor;
                    double err = Math.abs(got[ci] - ref);
                    if (!(err <= budget)) {
                        if (bad++ < 5) {
                            firstBad.append(String.format("%n  batch %d C(%d,%d) = %s, reference %.9g, error %.3g > budget %.3g",
                                    bi, i, j, got[ci], ref, err, budget));
                        }
                    } else if (err > 0) {
                        maxErr = Math.max(maxErr, err);
                        maxRatio = Math.max(maxRatio, err / budget);
                    }
                }
            }
        }
        int touched = 0;
        for (int i = 0; i < c0.length; i++) {
            if (!inside[i] && Float.floatToIntBits(got[i]) != Float.floatToIntBits(c0[i])) {
                if (touched++ < 5) firstBad.append(String.format("%n  C[%d] outside the matrices changed from %s to %s", i, c0[i], got[i]));
            }
        }
        System.out.printf("gemm %-60s max err %.3e, %.3f of its budget%n", c, maxErr, maxRatio);
        if (bad > 0 || touched > 0) {
            fail("gemm " + c + " on " + device().name() + ": " + bad + " elements over budget, " + touched + " outside C written" + firstBad);
        }
    }

    /** Random values in [-1, 1] rounded to {@code t} (or NaN) into the rows x cols matrix at {@code offset}. */
    private static void fill(float[] dst, long offset, int rows, int cols, long ld, DType t, SplittableRandom rnd, boolean nan) {
        for (int j = 0; j < cols; j++) {
            for (int i = 0; i < rows; i++) {
                dst[(int) (offset + i + j * ld)] = nan ? Float.NaN : HostConvert.roundTo(t, (float) (rnd.nextDouble() * 2 - 1));
            }
        }
    }

    static double smallestSubnormal(DType t) {
        return switch (t) {
            case F32 -> Float.MIN_VALUE;
            case F16 -> 0x1p-24;
            case BF16 -> 0x1p-133;
            case I32 -> 0;
        };
    }
}
