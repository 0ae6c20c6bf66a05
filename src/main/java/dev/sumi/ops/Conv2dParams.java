package dev.sumi.ops;

/**
 * The geometry of one NCHW conv2d, validated once (flash.h's params struct, as a record): input
 * (n, cin, h, w), weight (cout, cin, k, k), bias (cout), output (n, cout, hOut, wOut) with
 * {@code hOut = (h + padTop + padBottom - k) / stride + 1} and likewise for the width. Padding may be
 * asymmetric: the VAE encoder's downsample pads (left 0, right 1, top 0, bottom 1).
 * Element counts and strides are longs; every size a kernel takes as an int is checked to fit.
 */
public record Conv2dParams(int n, int cin, int h, int w, int cout, int k, int stride,
                           int padTop, int padLeft, int padBottom, int padRight) {

    public Conv2dParams {
        if (n < 1 || cin < 1 || h < 1 || w < 1 || cout < 1 || k < 1 || stride < 1) {
            throw new IllegalArgumentException("conv2d: sizes must be positive: n=" + n + " cin=" + cin + " h=" + h + " w=" + w
                    + " cout=" + cout + " k=" + k + " stride=" + stride);
        }
        if (padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0) {
            throw new IllegalArgumentException("conv2d: negative padding (top " + padTop + ", left " + padLeft + ", bottom " + padBottom
                    + ", right " + padRight + ")");
        }
        if (padTop >= k || padLeft >= k || padBottom >= k || padRight >= k) {
            // an output pixel that sees only padding has no input: PyTorch allows it, SD never needs it
            throw new IllegalArgumentException("conv2d: padding must be smaller than the kernel size " + k + " (top " + padTop + ", left "
                    + padLeft + ", bottom " + padBottom + ", right " + padRight + ")");
        }
        if (h + padTop + padBottom < k || w + padLeft + padRight < k) {
            throw new IllegalArgumentException("conv2d: a " + k + "x" + k + " kernel does not fit the padded " + h + "x" + w + " input");
        }
        long rows = (long) cin * k * k;
        long p = (long) ((h + padTop + padBottom - k) / stride + 1) * ((w + padLeft + padRight - k) / stride + 1);
        if (rows > Integer.MAX_VALUE || p > Integer.MAX_VALUE || (long) cin * h * w > Integer.MAX_VALUE
                || (long) cout * p > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("conv2d: per-image sizes exceed the int range of the GEMM: " + cin + "x" + h + "x" + w
                    + " -> " + cout + "x" + p);
        }
    }

    /** 3x3, stride 1, padding 1: the UNet's and the VAE's ordinary conv (output size = input size). */
    public static Conv2dParams same3x3(int n, int cin, int h, int w, int cout) {
        return new Conv2dParams(n, cin, h, w, cout, 3, 1, 1, 1, 1, 1);
    }

    /** 3x3, stride 2, padding 1: the UNet's downsample. */
    public static Conv2dParams down3x3(int n, int cin, int h, int w, int cout) {
        return new Conv2dParams(n, cin, h, w, cout, 3, 2, 1, 1, 1, 1);
    }

    /** 3x3, stride 2, padding (left 0, right 1, top 0, bottom 1): the VAE encoder's downsample. */
    public static Conv2dParams vaeDown3x3(int n, int cin, int h, int w, int cout) {
        return new Conv2dParams(n, cin, h, w, cout, 3, 2, 0, 0, 1, 1);
    }

    /** 1x1, stride 1, no padding: a per-pixel linear map (skip connections, the VAE's quant convs). */
    public static Conv2dParams pointwise(int n, int cin, int h, int w, int cout) {
        return new Conv2dParams(n, cin, h, w, cout, 1, 1, 0, 0, 0, 0);
    }

    public int hOut() {
        return (h + padTop + padBottom - k) / stride + 1;
    }

    public int wOut() {
        return (w + padLeft + padRight - k) / stride + 1;
    }

    /** Output pixels per image, {@code hOut * wOut}. */
    public int pixelsOut() {
        return hOut() * wOut();
    }

    /** Rows of the column matrix, {@code cin * k * k}: the GEMM's reduction length. */
    public int patchSize() {
        return cin * k * k;
    }

    /** True when the column matrix of an image is the image itself (1x1, stride 1, no padding): no im2col. */
    public boolean isPointwise() {
        return k == 1 && stride == 1 && padTop == 0 && padLeft == 0 && padBottom == 0 && padRight == 0;
    }

    /** The same geometry for {@code images} images (a chunk of the batch). */
    public Conv2dParams withBatch(int images) {
        return new Conv2dParams(images, cin, h, w, cout, k, stride, padTop, padLeft, padBottom, padRight);
    }

    public long[] inputShape() {
        return new long[] {n, cin, h, w};
    }

    public long[] weightShape() {
        return new long[] {cout, cin, k, k};
    }

    public long[] outputShape() {
        return new long[] {n, cout, hOut(), wOut()};
    }

    @Override
    public String toString() {
        return "conv2d[" + n + "x" + cin + "x" + h + "x" + w + " -> " + cout + "x" + hOut() + "x" + wOut() + ", k" + k + " s" + stride
                + " pad(t" + padTop + " l" + padLeft + " b" + padBottom + " r" + padRight + ")]";
    }
}
