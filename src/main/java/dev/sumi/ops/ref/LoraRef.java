package dev.sumi.ops.ref;

/**
 * F64 reference of {@link dev.sumi.ops.LoraOps}: y = x W^T + b + s (x down^T) up^T with x (M, K),
 * W (N, K), b (N) or null, down (r, K), up (N, r), h = x down^T (M, r) saved, y (M, N).
 */
public final class LoraRef {
    private LoraRef() {}

    /** y (=) and h (=). */
    public static void forward(double[] y, double[] h, double[] x, double[] w, double[] b, double[] down, double[] up, double s,
                               int m, int n, int k, int r) {
        LinearRef.forward(y, x, w, b, m, n, k);
        LinearRef.forward(h, x, down, null, m, r, k);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double a = 0;
                for (int q = 0; q < r; q++) a += h[i * r + q] * up[j * r + q];
                y[i * n + j] += s * a;
            }
        }
    }

    /**
     * dx (M, K) = dy W + s (dy up) down (=, skipped when null); dDown (r, K) += s (dy up)^T x;
     * dUp (N, r) += s dy^T h; W frozen.
     */
    public static void backward(double[] dx, double[] dDown, double[] dUp, double[] dy, double[] x, double[] h, double[] w,
                                double[] down, double[] up, double s, int m, int n, int k, int r) {
        double[] dh = new double[m * r];
        LinearRef.backward(dh, null, null, dy, h, up, m, n, r);  // dh = dy up (M, r)
        for (int i = 0; i < dh.length; i++) dh[i] *= s;
        if (dUp != null) {
            for (int j = 0; j < n; j++) {
                for (int q = 0; q < r; q++) {
                    double a = 0;
                    for (int i = 0; i < m; i++) a += dy[i * n + j] * h[i * r + q];
                    dUp[j * r + q] += s * a;
                }
            }
        }
        if (dDown != null) LinearRef.backward(null, dDown, null, dh, x, down, m, r, k);
        if (dx != null) {
            LinearRef.backward(dx, null, null, dy, x, w, m, n, k);
            double[] viaLora = new double[m * k];
            LinearRef.backward(viaLora, null, null, dh, x, down, m, r, k);
            for (int i = 0; i < viaLora.length; i++) dx[i] += viaLora[i];
        }
    }
}
