package dev.sumi.ops.ref;

/**
 * F64 reference of {@link dev.sumi.ops.LinearOps}: y[M, N] = x[M, K] W[N, K]^T + b[N], row-major.
 * Backward writes dx (=) and accumulates dW, db (+=).
 */
public final class LinearRef {
    private LinearRef() {}

    /** y (M, N) = x (M, K) W (N, K)^T + b (N); b may be null. */
    public static void forward(double[] y, double[] x, double[] w, double[] b, int m, int n, int k) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = b == null ? 0 : b[j];
                for (int p = 0; p < k; p++) s += x[i * k + p] * w[j * k + p];
                y[i * n + j] = s;
            }
        }
    }

    /** dx (M, K) = dy W (=, skipped when null); dW (N, K) += dy^T x; db (N) += column sums of dy (each skipped when null). */
    public static void backward(double[] dx, double[] dw, double[] db, double[] dy, double[] x, double[] w, int m, int n, int k) {
        if (dx != null) {
            for (int i = 0; i < m; i++) {
                for (int p = 0; p < k; p++) {
                    double s = 0;
                    for (int j = 0; j < n; j++) s += dy[i * n + j] * w[j * k + p];
                    dx[i * k + p] = s;
                }
            }
        }
        if (dw != null) {
            for (int j = 0; j < n; j++) {
                for (int p = 0; p < k; p++) {
                    double s = 0;
                    for (int i = 0; i < m; i++) s += dy[i * n + j] * x[i * k + p];
                    dw[j * k + p] += s;
                }
            }
        }
        if (db != null) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int i = 0; i < m; i++) s += dy[i * n + j];
                db[j] += s;
            }
        }
    }
}
