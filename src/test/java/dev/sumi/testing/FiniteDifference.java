package dev.sumi.testing;

import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Tier-1 gradient checks: the analytic gradient of an F64 reference against central differences.
 * The loss is {@code sum(out * weight)} for a fixed random {@code weight} (so every output element
 * matters); {@code grad} is what the reference backward returns for that upstream gradient.
 */
public final class FiniteDifference {
    private FiniteDifference() {}

    /**
     * Checks {@code grad[i] ~= (L(x + h e_i) - L(x - h e_i)) / 2h} at {@code samples} coordinates spread
     * over x (all of them when x is small), with L(x) = sum(forward(x) * dout). Tolerance: central
     * differences err by O(h^2) and the F64 rounding by O(eps / h); with h = 1e-5 both are below
     * 1e-7 relative, so 1e-6 relative to the largest |grad| (plus 1e-9) is a safe, derived bound.
     */
    public static void check(String what, double[] x, double[] dout, Function<double[], double[]> forward, double[] grad, int samples) {
        double h = 1e-5;
        double scale = 1e-9;
        for (double g : grad) scale = Math.max(scale, Math.abs(g));
        int stride = Math.max(1, x.length / Math.max(1, samples));
        for (int i = 0; i < x.length; i += stride) {
            double keep = x[i];
            x[i] = keep + h;
            double up = dot(forward.apply(x), dout);
            x[i] = keep - h;
            double down = dot(forward.apply(x), dout);
            x[i] = keep;
            double numeric = (up - down) / (2 * h);
            if (Math.abs(numeric - grad[i]) > 1e-6 * scale + 1e-9) {
                fail(what + ": d/dx[" + i + "] analytic " + grad[i] + ", central difference " + numeric + " (scale " + scale + ")");
            }
        }
    }

    public static double dot(double[] a, double[] b) {
        if (a.length != b.length) throw new IllegalArgumentException(a.length + " vs " + b.length);
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    public static double[] random(java.util.Random r, int n, double scale) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = (r.nextDouble() * 2 - 1) * scale;
        return v;
    }
}
