package dev.sumi.ops.ref;

import dev.sumi.ops.Conv2dParams;

/**
 * F64 reference of NCHW conv2d: direct loops, no im2col, so it shares nothing with the kernels it
 * checks. Shapes: x (N, Cin, H, W), weight (Cout, Cin, K, K), bias (Cout), out (N, Cout, Ho, Wo), all
 * row-major; padding reads as zero. llm.c argument order (outputs, inputs, params, sizes).
 */
public final class Conv2dRef {
    private Conv2dRef() {}

    /** out[n, co, oh, ow] = bias[co] + sum over (ci, kh, kw) of weight[co, ci, kh, kw] * x[n, ci, oh*S - PT + kh, ow*S - PL + kw] ({@code =}); bias may be null. */
    public static void forward(double[] out, double[] x, double[] weight, double[] bias, Conv2dParams p) {
        int ho = p.hOut(), wo = p.wOut(), k = p.k();
        for (int n = 0; n < p.n(); n++) {
            for (int co = 0; co < p.cout(); co++) {
                for (int oh = 0; oh < ho; oh++) {
                    for (int ow = 0; ow < wo; ow++) {
                        double s = bias == null ? 0 : bias[co];
                        for (int ci = 0; ci < p.cin(); ci++) {
                            for (int kh = 0; kh < k; kh++) {
                                int ih = oh * p.stride() - p.padTop() + kh;
                                if (ih < 0 || ih >= p.h()) continue;
                                for (int kw = 0; kw < k; kw++) {
                                    int iw = ow * p.stride() - p.padLeft() + kw;
                                    if (iw < 0 || iw >= p.w()) continue;
                                    s += weight[((co * p.cin() + ci) * k + kh) * k + kw] * x[((n * p.cin() + ci) * p.h() + ih) * p.w() + iw];
                                }
                            }
                        }
                        out[((n * p.cout() + co) * ho + oh) * wo + ow] = s;
                    }
                }
            }
        }
    }

    /** The forward as a new array. */
    public static double[] forward(double[] x, double[] weight, double[] bias, Conv2dParams p) {
        double[] out = new double[p.n() * p.cout() * p.pixelsOut()];
        forward(out, x, weight, bias, p);
        return out;
    }

    /**
     * Backward of {@link #forward}: dx is written ({@code =}); dweight and dbias accumulate ({@code +=}).
     * Any of the three may be null when that gradient is not wanted.
     */
    public static void backward(double[] dx, double[] dweight, double[] dbias, double[] dout, double[] x, double[] weight, Conv2dParams p) {
        int ho = p.hOut(), wo = p.wOut(), k = p.k();
        if (dx != null) java.util.Arrays.fill(dx, 0, p.n() * p.cin() * p.h() * p.w(), 0.0);
        for (int n = 0; n < p.n(); n++) {
            for (int co = 0; co < p.cout(); co++) {
                for (int oh = 0; oh < ho; oh++) {
                    for (int ow = 0; ow < wo; ow++) {
                        double d = dout[((n * p.cout() + co) * ho + oh) * wo + ow];
                        if (dbias != null) dbias[co] += d;
                        for (int ci = 0; ci < p.cin(); ci++) {
                            for (int kh = 0; kh < k; kh++) {
                                int ih = oh * p.stride() - p.padTop() + kh;
                                if (ih < 0 || ih >= p.h()) continue;
                                for (int kw = 0; kw < k; kw++) {
                                    int iw = ow * p.stride() - p.padLeft() + kw;
                                    if (iw < 0 || iw >= p.w()) continue;
                                    int xi = ((n * p.cin() + ci) * p.h() + ih) * p.w() + iw;
                                    int wi = ((co * p.cin() + ci) * k + kh) * k + kw;
                                    if (dx != null) dx[xi] += weight[wi] * d;
                                    if (dweight != null) dweight[wi] += x[xi] * d;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
