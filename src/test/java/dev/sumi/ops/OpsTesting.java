package dev.sumi.ops;

import dev.sumi.tensor.DType;
import dev.sumi.tensor.HostConvert;
import dev.sumi.testing.Budget;

import java.util.Random;

/** Helpers of the op-family contracts: inputs representable in a dtype, widening, and derived budgets. */
final class OpsTesting {
    private OpsTesting() {}

    static final DType[] FLOATS = {DType.F32, DType.F16, DType.BF16};

    /** Unit roundoff of float, the precision every kernel computes in. */
    static final double U = 0x1p-24;

    /** Random values in [-scale, scale] (plus offset), already representable in {@code t}. */
    static float[] random(DType t, int n, long seed, float scale, float offset) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = HostConvert.roundTo(t, offset + (r.nextFloat() * 2 - 1) * scale);
        return v;
    }

    static float[] random(DType t, int n, long seed, float scale) {
        return random(t, n, seed, scale, 0f);
    }

    static double[] wide(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = x[i];
        return d;
    }

    static float[] round(DType t, float[] x) {
        float[] r = new float[x.length];
        for (int i = 0; i < x.length; i++) r[i] = HostConvert.roundTo(t, x[i]);
        return r;
    }

    static double maxAbs(double[] x) {
        double m = 0;
        for (double v : x) m = Math.max(m, Math.abs(v));
        return m;
    }

    /**
     * The flash-attention budget: the kernel's error against the F64 reference within 2x that of a
     * plain float computation ({@code baseline}, already rounded to the output type), plus a floor of
     * {@code floorUlps} float roundoffs of the largest |reference| for outputs the baseline gets exactly.
     */
    static void within(String what, float[] got, float[] baseline, double[] ref, double floorUlps) {
        Budget.assertWithin(what, got, baseline, ref, 2.0, floorUlps * U * Math.max(1e-30, maxAbs(ref)));
    }
}
