package dev.sumi.ops.ref;

/**
 * F64 reference of the activations: SiLU, exact (erf) GELU, quick GELU (CLIP) and GEGLU (diffusers:
 * {@code hidden, gate = x.chunk(2, dim=-1); hidden * gelu(gate)}). Backward writes dx (=).
 */
public final class ActivationRef {
    private ActivationRef() {}

    public enum Kind { SILU, GELU, QUICK_GELU }

    static final double QUICK_GELU = 1.702;

    public static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    public static double silu(double x) {
        return x * sigmoid(x);
    }

    public static double siluGrad(double x) {
        double s = sigmoid(x);
        return s * (1 + x * (1 - s));
    }

    /** x Phi(x) with the exact normal CDF. */
    public static double gelu(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    public static double geluGrad(double x) {
        return 0.5 * (1 + erf(x / Math.sqrt(2))) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
    }

    public static double quickGelu(double x) {
        return x * sigmoid(QUICK_GELU * x);
    }

    public static double quickGeluGrad(double x) {
        double s = sigmoid(QUICK_GELU * x);
        return s * (1 + QUICK_GELU * x * (1 - s));
    }

    public static double apply(Kind k, double x) {
        return switch (k) {
            case SILU -> silu(x);
            case GELU -> gelu(x);
            case QUICK_GELU -> quickGelu(x);
        };
    }

    public static double grad(Kind k, double x) {
        return switch (k) {
            case SILU -> siluGrad(x);
            case GELU -> geluGrad(x);
            case QUICK_GELU -> quickGeluGrad(x);
        };
    }

    /** out, x: (n). */
    public static void forward(Kind k, double[] out, double[] x) {
        for (int i = 0; i < x.length; i++) out[i] = apply(k, x[i]);
    }

    /** dx (=), dout, x: (n). */
    public static void backward(Kind k, double[] dx, double[] dout, double[] x) {
        for (int i = 0; i < x.length; i++) dx[i] = dout[i] * grad(k, x[i]);
    }

    /** out: (rows, F); x: (rows, 2F), value half then gate half. */
    public static void gegluForward(double[] out, double[] x, int rows, int F) {
        for (int r = 0; r < rows; r++) {
            for (int f = 0; f < F; f++) out[r * F + f] = x[r * 2 * F + f] * gelu(x[r * 2 * F + F + f]);
        }
    }

    /** dx (=): (rows, 2F); dout: (rows, F); x: (rows, 2F). */
    public static void gegluBackward(double[] dx, double[] dout, double[] x, int rows, int F) {
        for (int r = 0; r < rows; r++) {
            for (int f = 0; f < F; f++) {
                double h = x[r * 2 * F + f], g = x[r * 2 * F + F + f], d = dout[r * F + f];
                dx[r * 2 * F + f] = d * gelu(g);
                dx[r * 2 * F + F + f] = d * h * geluGrad(g);
            }
        }
    }

    /**
     * erf to double precision: for |x| < 3 the series of positive terms
     * erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1 3 5 ... (2n+1)) (Abramowitz and Stegun 7.1.6,
     * no cancellation), beyond it the continued fraction of erfc (7.1.14), where erfc < 3e-5.
     */
    public static double erf(double x) {
        double a = Math.abs(x);
        double r;
        if (a < 3) {
            double term = a, sum = a, x2 = 2 * a * a;
            for (int n = 1; n < 200; n++) {
                term *= x2 / (2 * n + 1);
                sum += term;
                if (term < 1e-17 * sum) break;
            }
            r = 2 / Math.sqrt(Math.PI) * Math.exp(-a * a) * sum;
        } else {
            // erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
            double f = a;
            for (int k = 200; k >= 1; k--) f = a + (k / 2.0) / f;
            r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
        }
        return x < 0 ? -r : r;
    }
}
