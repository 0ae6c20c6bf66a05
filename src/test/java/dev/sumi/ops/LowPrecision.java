package dev.sumi.ops;

import dev.sumi.tensor.DType;
import dev.sumi.tensor.HostConvert;

import java.util.Random;

/**
 * The plain low-precision baselines the op contracts measure their budgets with: float math, every
 * op's output rounded to its storage type, as an unfused framework would compute it.
 */
final class LowPrecision {
    private LowPrecision() {}

    /** out[i, j] = sum_p a[i, p] b[j, p] in float, sequential, a (rows, k), b (cols, k). */
    static float[] nt(float[] a, float[] b, int rows, int cols, int k) {
        float[] out = new float[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                float s = 0;
                for (int p = 0; p < k; p++) s += a[i * k + p] * b[j * k + p];
                out[i * cols + j] = s;
            }
        }
        return out;
    }

    static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[a.length];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
        return t;
    }

    static float[] round(DType t, float[] a) {
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) r[i] = HostConvert.roundTo(t, a[i]);
        return r;
    }

    /** round(a + b) elementwise. */
    static float[] add(DType t, float[] a, float[] b) {
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) r[i] = HostConvert.roundTo(t, a[i] + b[i]);
        return r;
    }

    /** round(s * a) elementwise. */
    static float[] scale(DType t, float s, float[] a) {
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) r[i] = HostConvert.roundTo(t, s * a[i]);
        return r;
    }

    /** Random values in [-scale, scale], representable in t. */
    static float[] random(DType t, int n, long seed, float scale) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = HostConvert.roundTo(t, (r.nextFloat() * 2 - 1) * scale);
        return v;
    }

    static double[] widen(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    static double maxAbs(double[] a) {
        double m = 0;
        for (double v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    /**
     * Absolute floor of the GEMM budgets: a few float ulps of the largest reference value. The GEMM
     * and the baseline accumulate in float in different orders (blocked with FMA vs sequential); on a
     * tiny K the baseline can be exact by chance while the GEMM is off by an ulp of float (or the
     * other way round), which 2 x 0 would not allow.
     */
    static double gemmFloor(double[] ref) {
        return 4 * Math.ulp(1.0f) * Math.max(1, maxAbs(ref));
    }
}
