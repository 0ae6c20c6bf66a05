package dev.sumi.ops.ref;

/**
 * F64 reference of the shape ops: nearest 2x upsampling, channel concatenation, the sinusoidal
 * timestep embedding and the token + position embedding. Backward writes input gradients (=) and
 * accumulates embedding-table gradients (+=).
 */
public final class ShapeRef {
    private ShapeRef() {}

    /** out: (planes, 2H, 2W); x: (planes, H, W). */
    public static void upsampleNearest2xForward(double[] out, double[] x, int planes, int H, int W) {
        for (int p = 0; p < planes; p++)
            for (int y = 0; y < 2 * H; y++)
                for (int xx = 0; xx < 2 * W; xx++) out[(p * 2 * H + y) * 2 * W + xx] = x[(p * H + y / 2) * W + xx / 2];
    }

    /** dx (=): (planes, H, W); dout: (planes, 2H, 2W): each input gets the sum of its 2x2 children. */
    public static void upsampleNearest2xBackward(double[] dx, double[] dout, int planes, int H, int W) {
        java.util.Arrays.fill(dx, 0, planes * H * W, 0);
        for (int p = 0; p < planes; p++)
            for (int y = 0; y < 2 * H; y++)
                for (int xx = 0; xx < 2 * W; xx++) dx[(p * H + y / 2) * W + xx / 2] += dout[(p * 2 * H + y) * 2 * W + xx];
    }

    /** out: (N, Ca + Cb, HW) = cat([a (N, Ca, HW), b (N, Cb, HW)], dim=1). */
    public static void concatChannelsForward(double[] out, double[] a, double[] b, int N, int Ca, int Cb, int HW) {
        for (int n = 0; n < N; n++) {
            System.arraycopy(a, n * Ca * HW, out, n * (Ca + Cb) * HW, Ca * HW);
            System.arraycopy(b, n * Cb * HW, out, (n * (Ca + Cb) + Ca) * HW, Cb * HW);
        }
    }

    /** da (=), db (=): the two channel ranges of dout. */
    public static void concatChannelsBackward(double[] da, double[] db, double[] dout, int N, int Ca, int Cb, int HW) {
        for (int n = 0; n < N; n++) {
            System.arraycopy(dout, n * (Ca + Cb) * HW, da, n * Ca * HW, Ca * HW);
            System.arraycopy(dout, (n * (Ca + Cb) + Ca) * HW, db, n * Cb * HW, Cb * HW);
        }
    }

    /**
     * out: (N, dim); t: (N). diffusers' get_timestep_embedding: freq_k = exp(-ln(maxPeriod) k / (half - shift)),
     * emb = [sin(t freq) | cos(t freq)], swapped to [cos | sin] when flipSinToCos, a zero column last for odd dim.
     */
    public static void timestepEmbedding(double[] out, double[] t, int N, int dim, boolean flipSinToCos, double shift, double maxPeriod) {
        int half = dim / 2;
        for (int n = 0; n < N; n++) {
            for (int k = 0; k < half; k++) {
                double arg = t[n] * Math.exp(-Math.log(maxPeriod) * k / (half - shift));
                out[n * dim + k] = flipSinToCos ? Math.cos(arg) : Math.sin(arg);
                out[n * dim + half + k] = flipSinToCos ? Math.sin(arg) : Math.cos(arg);
            }
            if (dim % 2 == 1) out[n * dim + dim - 1] = 0;
        }
    }

    /** out: (B, T, C) = tok[ids[b, t]] + pos[t]; ids: (B, T); tok: (V, C); pos: (P >= T, C). */
    public static void embeddingForward(double[] out, int[] ids, double[] tok, double[] pos, int B, int T, int C) {
        for (int bt = 0; bt < B * T; bt++)
            for (int c = 0; c < C; c++) out[bt * C + c] = tok[ids[bt] * C + c] + pos[(bt % T) * C + c];
    }

    /** dtok (+=): (V, C), a scatter-add over ids; dpos (+=): (P, C), its first T rows; dout: (B, T, C). */
    public static void embeddingBackward(double[] dtok, double[] dpos, double[] dout, int[] ids, int B, int T, int C) {
        for (int bt = 0; bt < B * T; bt++) {
            for (int c = 0; c < C; c++) {
                dtok[ids[bt] * C + c] += dout[bt * C + c];
                dpos[(bt % T) * C + c] += dout[bt * C + c];
            }
        }
    }
}
