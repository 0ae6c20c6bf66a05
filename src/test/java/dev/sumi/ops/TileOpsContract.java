package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.model.vae.TiledVae;
import dev.sumi.ops.ref.TileRef;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.HostConvert;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.Budget;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static dev.sumi.ops.OpsTesting.random;
import static dev.sumi.ops.OpsTesting.wide;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Tile kernels in every dtype on odd sizes. crop moves values; blendAccumulate does one float fma per
 * element and one float add per weight, blendNormalize one float division rounded once, in an order the
 * Java emulation here repeats, so the kernels must match it bit for bit; the emulation is checked against
 * the F64 {@link TileRef} with a budget of 2 x (a few float roundoffs per tile) of the largest value.
 * Tilings: a whole-image tile, a 2 x 2 grid, and a 3-tile axis whose outer tiles overlap (the evenly spread
 * positions of {@link TiledVae#positions}).
 */
public abstract class TileOpsContract {

    protected abstract Device device();

    static Stream<Arguments> cases() {
        List<Arguments> a = new ArrayList<>();
        for (DType t : OpsTesting.FLOATS) {
            a.add(Arguments.of(t, 1, 3, 13, 11, 13, 11, 0));   // one tile = the image
            a.add(Arguments.of(t, 3, 2, 13, 11, 7, 6, 3));     // 2 x 2 tiles
            a.add(Arguments.of(t, 1, 3, 17, 9, 8, 5, 2));      // y: 0, 5, 9 (tiles 0 and 2 overlap); x: 0, 4
        }
        return a.stream();
    }

    static float ramp(int i, int n, int lead, int trail) {
        float w = 1f;
        if (lead > 0) w = Math.min(w, ((float) i + 0.5f) / (float) lead);
        if (trail > 0) w = Math.min(w, ((float) (n - i) - 0.5f) / (float) trail);
        return w;
    }

    @ParameterizedTest(name = "{0} {1}x{2}x{3}x{4} tiles {5}x{6} overlap {7}")
    @MethodSource("cases")
    void cropBlendNormalize(DType t, int N, int C, int H, int W, int th, int tw, int overlap) {
        int planes = N * C, HW = H * W;
        int[] ys = TiledVae.positions(H, th, overlap), xs = TiledVae.positions(W, tw, overlap);
        float[] image = random(t, planes * HW, 61, 3f);
        double[] refAcc = new double[planes * HW], refW = new double[HW], ref = new double[planes * HW];
        float[] emAcc = new float[planes * HW], emW = new float[HW];
        Device d = device();
        try (Tensor timg = Tensor.fromFloats(d, t, image, N, C, H, W); Tensor tile = Tensor.allocate(d, t, N, C, th, tw);
             Tensor processed = Tensor.allocate(d, t, N, C, th, tw);
             Tensor acc = Tensor.allocate(d, DType.F32, N, C, H, W); Tensor wsum = Tensor.allocate(d, DType.F32, H, W);
             Tensor out = Tensor.fromFloats(d, t, random(t, planes * HW, 62, 100f), N, C, H, W)) {
            BasicOps.fill(acc, 0f);
            BasicOps.fill(wsum, 0f);
            int seed = 70;
            float[] last = null;
            for (int i = 0; i < ys.length; i++) {
                for (int j = 0; j < xs.length; j++) {
                    // crop: exact
                    TileOps.crop(tile, timg, ys[i], xs[j]);
                    double[] refTile = new double[planes * th * tw];
                    TileRef.crop(refTile, wide(image), planes, H, W, th, tw, ys[i], xs[j]);
                    Budget.assertExact("crop " + t, narrow(refTile), tile.toFloats());
                    // a "processed" tile: any values (tiles disagree in their overlaps, as a VAE's do)
                    float[] p = random(t, planes * th * tw, seed++, 2f, 0.5f);
                    last = p;
                    processed.copyFrom(p);
                    int top = i == 0 ? 0 : ys[i - 1] + th - ys[i], bottom = i == ys.length - 1 ? 0 : ys[i] + th - ys[i + 1];
                    int left = j == 0 ? 0 : xs[j - 1] + tw - xs[j], right = j == xs.length - 1 ? 0 : xs[j] + tw - xs[j + 1];
                    TileOps.blendAccumulate(acc, wsum, processed, ys[i], xs[j], top, bottom, left, right);
                    TileRef.blendAccumulate(refAcc, refW, wide(p), planes, H, W, th, tw, ys[i], xs[j], top, bottom, left, right);
                    for (int y = 0; y < th; y++) {
                        for (int x = 0; x < tw; x++) {
                            float wgt = ramp(y, th, top, bottom) * ramp(x, tw, left, right);
                            int pix = (ys[i] + y) * W + xs[j] + x;
                            emW[pix] += wgt;
                            for (int q = 0; q < planes; q++) emAcc[q * HW + pix] = Math.fma(wgt, p[(q * th + y) * tw + x], emAcc[q * HW + pix]);
                        }
                    }
                }
            }
            Budget.assertExact("blend accumulate " + t, emAcc, acc.toFloats());
            Budget.assertExact("blend weights " + t, emW, wsum.toFloats());
            TileOps.blendNormalize(out, acc, wsum);
            TileRef.blendNormalize(ref, refAcc, refW, planes, HW);
            float[] expected = new float[planes * HW];
            for (int i = 0; i < expected.length; i++) expected[i] = HostConvert.roundTo(t, emAcc[i] / emW[i % HW]);
            float[] got = out.toFloats();
            Budget.assertExact("blend normalize " + t, expected, got);
            // vs F64: the baseline is the reference rounded once to the output type; floor 16 float ulps
            // (weights, fma per tile, up to 4 tiles per pixel, the weight sum and the division)
            float[] baseline = new float[ref.length];
            for (int i = 0; i < ref.length; i++) baseline[i] = HostConvert.roundTo(t, (float) ref[i]);
            OpsTesting.within("blend " + t + " vs F64", got, baseline, ref, 16);
            if (ys.length * xs.length == 1) Budget.assertExact("one tile is a copy " + t, last, got);
        }
    }

    private static float[] narrow(double[] x) {
        float[] r = new float[x.length];
        for (int i = 0; i < x.length; i++) r[i] = (float) x[i];
        return r;
    }

    @Test
    void rejectsTilesOutsideTheImage() {
        Device d = device();
        try (Tensor img = Tensor.allocate(d, DType.F32, 1, 2, 8, 8); Tensor tile = Tensor.allocate(d, DType.F32, 1, 2, 4, 4);
             Tensor acc = Tensor.allocate(d, DType.F32, 1, 2, 8, 8); Tensor wsum = Tensor.allocate(d, DType.F32, 8, 8);
             Tensor half = Tensor.allocate(d, DType.F16, 1, 2, 8, 8)) {
            assertThrows(IllegalArgumentException.class, () -> TileOps.crop(tile, img, 5, 0));
            assertThrows(IllegalArgumentException.class, () -> TileOps.blendAccumulate(acc, wsum, tile, 0, 5, 0, 0, 0, 0));
            assertThrows(IllegalArgumentException.class, () -> TileOps.blendAccumulate(half, wsum, tile, 0, 0, 0, 0, 0, 0));
            assertThrows(IllegalArgumentException.class, () -> TileOps.blendNormalize(img, acc, tile));
        }
    }
}
