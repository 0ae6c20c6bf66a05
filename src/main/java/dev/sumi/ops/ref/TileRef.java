package dev.sumi.ops.ref;

/**
 * F64 reference of the tile ops ({@link dev.sumi.ops.TileOps}): crop, ramp-weighted accumulation and
 * normalisation. {@code ramp(i; n, lead, trail) = min(1, (i + 0.5) / lead, (n - i - 0.5) / trail)}, a term
 * only where its length is positive.
 */
public final class TileRef {
    private TileRef() {}

    public static double ramp(int i, int n, int lead, int trail) {
        double w = 1;
        if (lead > 0) w = Math.min(w, (i + 0.5) / lead);
        if (trail > 0) w = Math.min(w, (n - i - 0.5) / trail);
        return w;
    }

    /** out (planes, th, tw) = in (planes, H, W)[:, y0 : y0 + th, x0 : x0 + tw]. */
    public static void crop(double[] out, double[] in, int planes, int H, int W, int th, int tw, int y0, int x0) {
        for (int p = 0; p < planes; p++)
            for (int y = 0; y < th; y++)
                for (int x = 0; x < tw; x++) out[(p * th + y) * tw + x] = in[(p * H + y0 + y) * W + x0 + x];
    }

    /** acc (planes, H, W) += w * tile (planes, th, tw) at (y0, x0); wsum (H, W) += w. */
    public static void blendAccumulate(double[] acc, double[] wsum, double[] tile, int planes, int H, int W, int th, int tw,
                                       int y0, int x0, int top, int bottom, int left, int right) {
        for (int y = 0; y < th; y++) {
            for (int x = 0; x < tw; x++) {
                double w = ramp(y, th, top, bottom) * ramp(x, tw, left, right);
                int pix = (y0 + y) * W + x0 + x;
                wsum[pix] += w;
                for (int p = 0; p < planes; p++) acc[p * H * W + pix] += w * tile[(p * th + y) * tw + x];
            }
        }
    }

    /** out (planes, HW) = acc / wsum (HW). */
    public static void blendNormalize(double[] out, double[] acc, double[] wsum, int planes, int HW) {
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < HW; i++) out[p * HW + i] = acc[p * HW + i] / wsum[i];
    }
}
