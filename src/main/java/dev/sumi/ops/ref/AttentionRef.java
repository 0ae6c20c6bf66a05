package dev.sumi.ops.ref;

import dev.sumi.ops.AttentionParams;

/**
 * F64 reference of {@link dev.sumi.ops.AttentionOps}, for tests only: it materialises the whole
 * Tq x Tk score matrix per (b, h). Arrays are indexed with the strides of {@link AttentionParams}
 * (q, dq by p.q(); k, dk by p.k(); v, dv by p.v(); out, dout by p.o()); lse is [B, H, Tq].
 */
public final class AttentionRef {
    private AttentionRef() {}

    /** P[i][j] = softmax_j(scale * q_i . k_j) over the visible keys (0 where masked); lse[i] when non-null. */
    static double[][] probabilities(double[] q, double[] k, AttentionParams p, int b, int h, double[] lseRow) {
        int tq = p.queries(), tk = p.keys(), dim = p.headDim();
        double[][] prob = new double[tq][tk];
        for (int i = 0; i < tq; i++) {
            long qi = p.qIndex(b, i, h);
            int visible = p.causal() ? i + 1 : tk;
            double m = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < visible; j++) {
                long kj = p.kIndex(b, j, h);
                double s = 0;
                for (int d = 0; d < dim; d++) s += q[(int) (qi + d)] * k[(int) (kj + d)];
                prob[i][j] = s * p.scale();
                m = Math.max(m, prob[i][j]);
            }
            double sum = 0;
            for (int j = 0; j < visible; j++) sum += Math.exp(prob[i][j] - m);
            for (int j = 0; j < visible; j++) prob[i][j] = Math.exp(prob[i][j] - m) / sum;
            if (lseRow != null) lseRow[i] = m + Math.log(sum);
        }
        return prob;
    }

    /** out = softmax(q k^T * scale) v (=), lse[b, h, i] = log sum_j exp(scale * q_i . k_j) (=). */
    public static void forward(double[] out, double[] lse, double[] q, double[] k, double[] v, AttentionParams p) {
        int tq = p.queries(), tk = p.keys(), dim = p.headDim();
        double[] lseRow = new double[tq];
        for (int b = 0; b < p.batch(); b++) {
            for (int h = 0; h < p.heads(); h++) {
                double[][] prob = probabilities(q, k, p, b, h, lseRow);
                for (int i = 0; i < tq; i++) {
                    long oi = p.oIndex(b, i, h);
                    for (int d = 0; d < dim; d++) {
                        double acc = 0;
                        for (int j = 0; j < tk; j++) acc += prob[i][j] * v[(int) (p.vIndex(b, j, h) + d)];
                        out[(int) (oi + d)] = acc;
                    }
                    if (lse != null) lse[(b * p.heads() + h) * tq + i] = lseRow[i];
                }
            }
        }
    }

    /**
     * dq, dk, dv (all {@code =}, at the positions of q, k, v's layouts only) of the loss whose
     * gradient with respect to out is dout: dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dP * P)),
     * dQ = scale * dS K, dK = scale * dS^T Q.
     */
    public static void backward(double[] dq, double[] dk, double[] dv, double[] dout, double[] q, double[] k, double[] v, AttentionParams p) {
        int tq = p.queries(), tk = p.keys(), dim = p.headDim();
        double sc = p.scale();
        for (int b = 0; b < p.batch(); b++) {
            for (int h = 0; h < p.heads(); h++) {
                double[][] prob = probabilities(q, k, p, b, h, null);
                double[][] ds = new double[tq][tk];
                for (int i = 0; i < tq; i++) {
                    long oi = p.oIndex(b, i, h);
                    double rowDot = 0;
                    for (int j = 0; j < tk; j++) {
                        long vj = p.vIndex(b, j, h);
                        double dp = 0;
                        for (int d = 0; d < dim; d++) dp += dout[(int) (oi + d)] * v[(int) (vj + d)];
                        ds[i][j] = dp;
                        rowDot += dp * prob[i][j];
                    }
                    for (int j = 0; j < tk; j++) ds[i][j] = prob[i][j] * (ds[i][j] - rowDot);
                }
                for (int j = 0; j < tk; j++) {
                    long kj = p.kIndex(b, j, h), vj = p.vIndex(b, j, h);
                    for (int d = 0; d < dim; d++) {
                        double gk = 0, gv = 0;
                        for (int i = 0; i < tq; i++) {
                            gk += ds[i][j] * q[(int) (p.qIndex(b, i, h) + d)];
                            gv += prob[i][j] * dout[(int) (p.oIndex(b, i, h) + d)];
                        }
                        dk[(int) (kj + d)] = sc * gk;
                        dv[(int) (vj + d)] = gv;
                    }
                }
                for (int i = 0; i < tq; i++) {
                    long qi = p.qIndex(b, i, h);
                    for (int d = 0; d < dim; d++) {
                        double g = 0;
                        for (int j = 0; j < tk; j++) g += ds[i][j] * k[(int) (p.kIndex(b, j, h) + d)];
                        dq[(int) (qi + d)] = sc * g;
                    }
                }
            }
        }
    }
}
