package dev.sumi.ops;

import dev.sumi.device.Dim3;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

/**
 * Overlapping tiles of NCHW images ({@link dev.sumi.model.vae.TiledVae}): cutting a tile out, and
 * blending processed tiles back with linear ramps across the overlaps; kernels in cuda-kernels/tile.cu,
 * F64 reference in {@link dev.sumi.ops.ref.TileRef}.
 *
 * <p>A tile's pixel (y, x) has the weight {@code ramp(y; th, top, bottom) * ramp(x; tw, left, right)},
 * {@code ramp(i; n, lead, trail) = min(1, (i + 0.5) / lead, (n - i - 0.5) / trail)} (a term only where its
 * ramp length is positive), in float. Blending: fill the F32 accumulator and weight sum with 0, call
 * {@link #blendAccumulate} once per tile (+=), then {@link #blendNormalize} (=, acc / wsum rounded once).
 */
public final class TileOps {
    private TileOps() {}

    /** out (N, C, th, tw) = in (N, C, H, W)[:, :, y0 : y0 + th, x0 : x0 + tw] (=). */
    public static void crop(Tensor out, Tensor in, int y0, int x0) {
        String op = "tileCrop";
        Checks.sameFloatType(op, out, in);
        long[] d = nchw(op, "in", in), t = nchw(op, "out", out);
        if (t[0] != d[0] || t[1] != d[1]) throw new IllegalArgumentException(op + ": out " + out.shape() + " and in " + in.shape() + " differ in N or C");
        window(op, d, t, y0, x0);
        launchFlat("tile_crop_" + in.dtype().kernelSuffix(), out, out.numel(), out, in, d[0] * d[1],
                (int) d[2], (int) d[3], (int) t[2], (int) t[3], y0, x0);
    }

    /**
     * acc (N, C, H, W) F32 += w * tile (N, C, th, tw) placed at (y0, x0), and wsum (H, W) F32 += w, with the
     * ramp weight w of the class comment; ramp lengths in pixels, 0 where the edge needs none (image border).
     */
    public static void blendAccumulate(Tensor acc, Tensor wsum, Tensor tile, int y0, int x0,
                                       int rampTop, int rampBottom, int rampLeft, int rampRight) {
        String op = "tileBlendAccumulate";
        Checks.floatType(op, "tile", tile);
        Checks.dtype(op, "acc", acc, DType.F32);
        Checks.dtype(op, "wsum", wsum, DType.F32);
        Checks.sameDevice(op, acc, wsum, tile);
        long[] d = nchw(op, "acc", acc), t = nchw(op, "tile", tile);
        if (t[0] != d[0] || t[1] != d[1]) throw new IllegalArgumentException(op + ": tile " + tile.shape() + " and acc " + acc.shape() + " differ in N or C");
        Checks.numel(op, "wsum", wsum, d[2] * d[3]);
        window(op, d, t, y0, x0);
        if (rampTop < 0 || rampBottom < 0 || rampLeft < 0 || rampRight < 0) throw new IllegalArgumentException(op + ": negative ramp length");
        launchFlat("tile_blend_accumulate_" + tile.dtype().kernelSuffix(), tile, tile.numel(), acc, wsum, tile, d[0] * d[1],
                (int) d[2], (int) d[3], (int) t[2], (int) t[3], y0, x0, rampTop, rampBottom, rampLeft, rampRight);
    }

    /** out (N, C, H, W) = acc / wsum (=), acc F32 of out's shape, wsum F32 (H, W). */
    public static void blendNormalize(Tensor out, Tensor acc, Tensor wsum) {
        String op = "tileBlendNormalize";
        Checks.floatType(op, "out", out);
        Checks.dtype(op, "acc", acc, DType.F32);
        Checks.dtype(op, "wsum", wsum, DType.F32);
        Checks.sameDevice(op, out, acc, wsum);
        long[] d = nchw(op, "out", out);
        Checks.shape(op, "acc", acc, d);
        Checks.numel(op, "wsum", wsum, d[2] * d[3]);
        launchFlat("tile_blend_normalize_" + out.dtype().kernelSuffix(), out, out.numel(), out, acc, wsum, d[0] * d[1], d[2] * d[3]);
    }

    private static void window(String op, long[] image, long[] tile, int y0, int x0) {
        if (y0 < 0 || x0 < 0 || y0 + tile[2] > image[2] || x0 + tile[3] > image[3]) {
            throw new IllegalArgumentException(op + ": a " + tile[2] + " x " + tile[3] + " tile at (" + y0 + ", " + x0
                    + ") does not fit in " + image[2] + " x " + image[3]);
        }
        Checks.toInt(op, "H * W", image[2] * image[3]);
    }

    private static long[] nchw(String op, String name, Tensor x) {
        if (x.shape().rank() != 4) throw new IllegalArgumentException(op + ": " + name + " must be (N, C, H, W), not " + x.shape());
        return x.shape().dims();
    }

    private static void launchFlat(String kernel, Tensor on, long n, Object... args) {
        if (n == 0) return;
        on.device().launch(kernel, Launch.flatGrid(n), Dim3.of(Launch.BLOCK), 0, args);
    }
}
