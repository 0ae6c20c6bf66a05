package dev.sumi.ops.ref;

/**
 * F64 reference of GroupNorm (NCHW, optionally followed by SiLU) and LayerNorm (last dimension), in
 * llm.c's argument order: outputs, saved statistics, inputs, parameters, sizes. Variances are biased
 * (divided by the element count), rstd = 1 / sqrt(var + eps). Backward writes dx (=) and accumulates
 * the parameter gradients (+=).
 */
public final class NormRef {
    private NormRef() {}

    /**
     * out, x: (N, C, HW); mean, rstd: (N, G); gamma, beta: (C).
     * out = [silu](((x - mean) * rstd) * gamma[c] + beta[c]) over each group of C / G channels.
     */
    public static void groupnormForward(double[] out, double[] mean, double[] rstd, double[] x, double[] gamma, double[] beta,
                                        int N, int C, int HW, int G, double eps, boolean silu) {
        int cg = C / G, count = cg * HW;
        for (int n = 0; n < N; n++) {
            for (int g = 0; g < G; g++) {
                int base = (n * G + g) * count;
                double m = 0;
                for (int i = 0; i < count; i++) m += x[base + i];
                m /= count;
                double v = 0;
                for (int i = 0; i < count; i++) v += (x[base + i] - m) * (x[base + i] - m);
                double r = 1 / Math.sqrt(v / count + eps);
                for (int i = 0; i < count; i++) {
                    int c = g * cg + i / HW;
                    double y = (x[base + i] - m) * r * gamma[c] + beta[c];
                    out[base + i] = silu ? ActivationRef.silu(y) : y;
                }
                mean[n * G + g] = m;
                rstd[n * G + g] = r;
            }
        }
    }

    /** dx (=), dout, x: (N, C, HW); dgamma, dbeta (+=), gamma, beta: (C); mean, rstd: (N, G). */
    public static void groupnormBackward(double[] dx, double[] dgamma, double[] dbeta, double[] dout, double[] x,
                                         double[] gamma, double[] beta, double[] mean, double[] rstd,
                                         int N, int C, int HW, int G, boolean silu) {
        int cg = C / G, count = cg * HW;
        double[] dy = new double[count], xhat = new double[count];
        for (int n = 0; n < N; n++) {
            for (int g = 0; g < G; g++) {
                int base = (n * G + g) * count;
                double m = mean[n * G + g], r = rstd[n * G + g];
                double md = 0, mdx = 0;
                for (int i = 0; i < count; i++) {
                    int c = g * cg + i / HW;
                    xhat[i] = (x[base + i] - m) * r;
                    double pre = xhat[i] * gamma[c] + beta[c];
                    dy[i] = silu ? dout[base + i] * ActivationRef.siluGrad(pre) : dout[base + i];
                    dgamma[c] += dy[i] * xhat[i];
                    dbeta[c] += dy[i];
                    md += dy[i] * gamma[c];
                    mdx += dy[i] * gamma[c] * xhat[i];
                }
                md /= count;
                mdx /= count;
                for (int i = 0; i < count; i++) {
                    int c = g * cg + i / HW;
                    dx[base + i] = r * (dy[i] * gamma[c] - md - xhat[i] * mdx);
                }
            }
        }
    }

    /** out, x: (rows, C); mean, rstd: (rows); w, b: (C). out = ((x - mean) * rstd) * w + b. */
    public static void layernormForward(double[] out, double[] mean, double[] rstd, double[] x, double[] w, double[] b,
                                        int rows, int C, double eps) {
        for (int r = 0; r < rows; r++) {
            double m = 0;
            for (int c = 0; c < C; c++) m += x[r * C + c];
            m /= C;
            double v = 0;
            for (int c = 0; c < C; c++) v += (x[r * C + c] - m) * (x[r * C + c] - m);
            double rs = 1 / Math.sqrt(v / C + eps);
            for (int c = 0; c < C; c++) out[r * C + c] = (x[r * C + c] - m) * rs * w[c] + b[c];
            mean[r] = m;
            rstd[r] = rs;
        }
    }

    /** dx (=), dout, x: (rows, C); dw, db (+=), w: (C); mean, rstd: (rows). */
    public static void layernormBackward(double[] dx, double[] dw, double[] db, double[] dout, double[] x, double[] w,
                                         double[] mean, double[] rstd, int rows, int C) {
        for (int r = 0; r < rows; r++) {
            double m = mean[r], rs = rstd[r], md = 0, mdx = 0;
            for (int c = 0; c < C; c++) {
                double xhat = (x[r * C + c] - m) * rs, d = dout[r * C + c];
                dw[c] += d * xhat;
                db[c] += d;
                md += d * w[c];
                mdx += d * w[c] * xhat;
            }
            md /= C;
            mdx /= C;
            for (int c = 0; c < C; c++) {
                double xhat = (x[r * C + c] - m) * rs;
                dx[r * C + c] = rs * (dout[r * C + c] * w[c] - md - xhat * mdx);
            }
        }
    }
}
