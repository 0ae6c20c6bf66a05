package dev.sumi.data;

/**
 * Image resizing as kohya does it by default (library/utils.resize_image): area averaging when both sides shrink
 * (cv2.INTER_AREA), Lanczos-3 otherwise (PIL's Image.LANCZOS). Both are separable: a horizontal pass, then a
 * vertical one, each output pixel a weighted sum of a run of input pixels.
 * <ul>
 *   <li>area: output pixel j covers input interval [j s, (j + 1) s) with s = in / out; each input pixel weighs
 *       its overlap with that interval divided by s (cv2's fractional area table);</li>
 *   <li>Lanczos: PIL's coefficients: center (j + 0.5) s, support 3 max(s, 1), weight
 *       L((i - center + 0.5) / max(s, 1)) with L(x) = sinc(x) sinc(x / 3), normalized to sum 1.</li>
 * </ul>
 * Values stay float between the passes (PIL rounds to 8 bits there); both passes clamp to [0, 255] as 8-bit
 * storage would, since Lanczos overshoots at edges.
 */
public final class Resample {
    private Resample() {}

    public enum Filter { AREA, LANCZOS }

    /** kohya's default choice: area when neither side grows, Lanczos otherwise. */
    public static Filter defaultFilter(int inW, int inH, int outW, int outH) {
        return inW >= outW && inH >= outH ? Filter.AREA : Filter.LANCZOS;
    }

    /**
     * Resizes planar channels.
     *
     * @param src (channels, inH, inW) values 0..255
     * @return (channels, outH, outW)
     */
    public static float[] resize(float[] src, int channels, int inW, int inH, int outW, int outH, Filter filter) {
        if (inW == outW && inH == outH) return src.clone();
        Taps horizontal = taps(inW, outW, filter), vertical = taps(inH, outH, filter);
        float[] tmp = new float[channels * inH * outW];                  // (channels, inH, outW)
        for (int c = 0; c < channels; c++) {
            for (int y = 0; y < inH; y++) {
                int row = (c * inH + y) * inW;
                for (int x = 0; x < outW; x++) {
                    double sum = 0;
                    int start = horizontal.start[x];
                    for (int k = 0; k < horizontal.count[x]; k++) sum += horizontal.weight(x, k) * src[row + start + k];
                    tmp[(c * inH + y) * outW + x] = clamp(sum);
                }
            }
        }
        float[] out = new float[channels * outH * outW];                 // (channels, outH, outW)
        for (int c = 0; c < channels; c++) {
            for (int y = 0; y < outH; y++) {
                int start = vertical.start[y];
                for (int x = 0; x < outW; x++) {
                    double sum = 0;
                    for (int k = 0; k < vertical.count[y]; k++)
                        sum += vertical.weight(y, k) * tmp[(c * inH + start + k) * outW + x];
                    out[(c * outH + y) * outW + x] = clamp(sum);
                }
            }
        }
        return out;
    }

    private static float clamp(double v) {
        return (float) Math.min(255.0, Math.max(0.0, v));
    }

    /** Per output pixel j: the first input pixel start[j], how many count[j], and their weights. */
    record Taps(int[] start, int[] count, double[] weights, int stride) {
        double weight(int j, int k) {
            return weights[j * stride + k];
        }
    }

    static Taps taps(int in, int out, Filter filter) {
        return filter == Filter.AREA ? areaTaps(in, out) : lanczosTaps(in, out);
    }

    private static Taps areaTaps(int in, int out) {
        double scale = (double) in / out;
        int stride = (int) Math.ceil(scale) + 1;
        int[] start = new int[out], count = new int[out];
        double[] weights = new double[out * stride];
        for (int j = 0; j < out; j++) {
            double lo = j * scale, hi = Math.min(in, (j + 1) * scale);
            int first = (int) Math.floor(lo), last = Math.min(in - 1, (int) Math.ceil(hi) - 1);
            start[j] = first;
            count[j] = last - first + 1;
            double total = 0;
            for (int i = first; i <= last; i++) {
                double overlap = Math.min(hi, i + 1) - Math.max(lo, i);
                weights[j * stride + i - first] = overlap;
                total += overlap;
            }
            for (int k = 0; k < count[j]; k++) weights[j * stride + k] /= total;
        }
        return new Taps(start, count, weights, stride);
    }

    private static Taps lanczosTaps(int in, int out) {
        double scale = (double) in / out;
        double filterScale = Math.max(scale, 1.0), support = 3.0 * filterScale;
        int stride = (int) Math.ceil(support) * 2 + 1;
        int[] start = new int[out], count = new int[out];
        double[] weights = new double[out * stride];
        for (int j = 0; j < out; j++) {
            double center = (j + 0.5) * scale;
            int first = Math.max((int) (center - support + 0.5), 0);
            int last = Math.min((int) (center + support + 0.5), in);      // exclusive
            start[j] = first;
            count[j] = last - first;
            double total = 0;
            for (int i = first; i < last; i++) {
                double w = lanczos((i - center + 0.5) / filterScale);
                weights[j * stride + i - first] = w;
                total += w;
            }
            if (total != 0) for (int k = 0; k < count[j]; k++) weights[j * stride + k] /= total;
        }
        return new Taps(start, count, weights, stride);
    }

    private static double lanczos(double x) {
        if (x == 0) return 1.0;
        if (x <= -3.0 || x >= 3.0) return 0.0;
        return sinc(x) * sinc(x / 3.0);
    }

    private static double sinc(double x) {
        if (x == 0) return 1.0;
        double px = Math.PI * x;
        return Math.sin(px) / px;
    }
}
