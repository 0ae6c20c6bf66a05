package dev.sumi.model.vae;

import dev.sumi.model.Checkpoint;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.ops.ref.TileRef;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link TiledVae} on the tiny model (RandomCheckpoint TINY seed 1, F32; f = 2) on the host device.
 */
class TiledVaeTest {

    static final VaeConfig CONFIG = VaeConfig.tiny();

    @TempDir
    static Path dir;

    static Checkpoint checkpoint;

    @BeforeAll
    static void setUp() throws Exception {
        Path ckpt = dir.resolve("tiny.safetensors");
        RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 1), 1, StoredType.F32, ckpt, false);
        checkpoint = Checkpoint.open(ckpt, null);
    }

    @AfterAll
    static void tearDown() {
        if (checkpoint != null) checkpoint.close();
    }

    static float[] gaussian(int n, long seed, double scale) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (scale * r.nextGaussian());
        return v;
    }

    @Test
    void positionsCoverTheAxisWithAtLeastTheOverlap() {
        assertArrayEquals(new int[] {0}, TiledVae.positions(64, 64, 16));
        assertArrayEquals(new int[] {0, 48}, TiledVae.positions(112, 64, 16));   // exactly diffusers' stride
        assertArrayEquals(new int[] {0, 32, 64}, TiledVae.positions(128, 64, 16)); // 1024 px at f = 8
        for (int size = 13; size < 200; size += 7) {
            for (int tile = 5; tile <= size; tile += 6) {
                for (int overlap = 0; overlap < tile; overlap += 3) {
                    int[] p = TiledVae.positions(size, tile, overlap);
                    assertEquals(0, p[0]);
                    assertEquals(size - tile, p[p.length - 1]);
                    for (int k = 1; k < p.length; k++) assertTrue(p[k - 1] + tile - p[k] >= overlap, "overlap at " + size + "/" + tile + "/" + overlap);
                    // the ramps' weights are positive everywhere (TileRef.ramp), so every pixel has weight
                    for (int k = 1; k < p.length; k++) assertTrue(p[k] > p[k - 1]);
                }
            }
        }
        assertThrows(IllegalArgumentException.class, () -> TiledVae.positions(10, 11, 2));
        assertThrows(IllegalArgumentException.class, () -> TiledVae.positions(20, 10, 10));
        // two tiles overlapping by e with ramps of e: the weights sum to 1 across the overlap
        for (int e = 1; e < 9; e++) for (int y = 0; y < e; y++) assertEquals(1.0, TileRef.ramp(y, 20, e, 0) + TileRef.ramp(20 - e + y, 20, 0, e), 1e-15);
    }

    /** A single tile covering the image is the plain VAE, bit for bit (weights 1, sum 1, F32 accumulation exact). */
    @Test
    void oneTileIsThePlainVae() {
        int B = 2, H = 24, W = 20, z = CONFIG.zChannels();
        try (Vae plain = Vae.load(checkpoint, CONFIG, Devices.host(), DType.F32, B, H, W);
             TiledVae tiled = TiledVae.load(checkpoint, CONFIG, Devices.host(), DType.F32, B, H, W);   // default 64-latent tiles, clamped
             Tensor image = Tensor.fromFloats(Devices.host(), DType.F32, gaussian(B * 3 * H * W, 3, 0.5), B, 3, H, W);
             Tensor latents = Tensor.fromFloats(Devices.host(), DType.F32, gaussian(B * z * H * W / 4, 4, 1), B, z, H / 2, W / 2)) {
            assertEquals(1, tiled.tiles());
            assertArrayEquals(plain.decode(latents).toFloats(), tiled.decode(latents).toFloats());
            Tensor[] a = plain.encode(image), b = tiled.encode(image);
            assertArrayEquals(a[0].toFloats(), b[0].toFloats());
            assertArrayEquals(a[1].toFloats(), b[1].toFloats());
        }
    }

    @Test
    void tiledDecodeIsTheBlendOfTileDecodesAndCloseToTheUntiledOne() {
        int B = 1, z = CONFIG.zChannels(), h = 28, w = 24, tile = 12, overlap = 4, f = CONFIG.downscale();
        int H = h * f, W = w * f;
        float[] lat = gaussian(B * z * h * w, 5, 1);
        try (TiledVae tiled = TiledVae.load(checkpoint, CONFIG, Devices.host(), DType.F32, B, H, W, tile, overlap);
             Vae whole = Vae.load(checkpoint, CONFIG, Devices.host(), DType.F32, B, H, W);
             Vae one = Vae.load(checkpoint, CONFIG, Devices.host(), DType.F32, B, tile * f, tile * f);
             Tensor latents = Tensor.fromFloats(Devices.host(), DType.F32, lat, B, z, h, w);
             Tensor latTile = Tensor.allocate(Devices.host(), DType.F32, B, z, tile, tile)) {
            int[] ys = tiled.tileRows(), xs = tiled.tileColumns();
            assertArrayEquals(new int[] {0, 8, 16}, ys);
            assertArrayEquals(new int[] {0, 6, 12}, xs);
            float[] got = null;
            for (int pass = 0; pass < 2; pass++) {   // the second pass reuses every buffer
                long free = Devices.host().memoryInfo().free();
                float[] g = tiled.decode(latents).toFloats();
                assertEquals(free, Devices.host().memoryInfo().free(), "tiled decode allocates nothing on the device");
                if (got != null) assertArrayEquals(got, g);
                got = g;
            }
            // 1. the machinery: the F64 blend (TileRef) of the plain VAE's decodes of the same crops
            int planes = B * 3;
            double[] acc = new double[planes * H * W], wsum = new double[H * W], blend = new double[acc.length];
            float[] cut = new float[acc.length];   // hard cut: each pixel from the tile whose overlap half it lies in
            for (int i = 0; i < ys.length; i++) {
                for (int j = 0; j < xs.length; j++) {
                    double[] crop = new double[B * z * tile * tile];
                    TileRef.crop(crop, wide(lat), B * z, h, w, tile, tile, ys[i], xs[j]);
                    latTile.copyFrom(narrow(crop));
                    float[] dec = one.decode(latTile).toFloats();
                    int y0 = i == 0 ? 0 : cutLine(ys, i, tile) * f, y1 = i == ys.length - 1 ? H : cutLine(ys, i + 1, tile) * f;
                    int x0 = j == 0 ? 0 : cutLine(xs, j, tile) * f, x1 = j == xs.length - 1 ? W : cutLine(xs, j + 1, tile) * f;
                    for (int c = 0; c < planes; c++)
                        for (int y = y0; y < y1; y++)
                            for (int x = x0; x < x1; x++) cut[(c * H + y) * W + x] = dec[(c * tile * f + y - ys[i] * f) * tile * f + x - xs[j] * f];
                    int top = i == 0 ? 0 : (ys[i - 1] + tile - ys[i]) * f, bottom = i == ys.length - 1 ? 0 : (ys[i] + tile - ys[i + 1]) * f;
                    int left = j == 0 ? 0 : (xs[j - 1] + tile - xs[j]) * f, right = j == xs.length - 1 ? 0 : (xs[j] + tile - xs[j + 1]) * f;
                    TileRef.blendAccumulate(acc, wsum, wide(dec), planes, H, W, tile * f, tile * f, ys[i] * f, xs[j] * f, top, bottom, left, right);
                }
            }
            TileRef.blendNormalize(blend, acc, wsum, planes, H * W);
            double maxAbs = 0, blendErr = 0;
            for (int i = 0; i < got.length; i++) {
                maxAbs = Math.max(maxAbs, Math.abs(blend[i]));
                blendErr = Math.max(blendErr, Math.abs(got[i] - blend[i]));
            }
            System.out.printf("tiled vae decode vs F64 blend of tile decodes: max err %.3e (max |image| %.3f)%n", blendErr, maxAbs);
            assertTrue(blendErr <= 16 * 0x1p-24 * maxAbs, "tiled decode is the blend of the tiles' decodes: " + blendErr);

            // 2. against the untiled decode: interiors (one tile, weight 1) vs seams (in an overlap)
            float[] ref = whole.decode(latents).toFloats();
            double interior = 0, seam = 0, sumIn = 0, sumSeam = 0;
            long nIn = 0, nSeam = 0;
            for (int c = 0; c < planes; c++) {
                for (int y = 0; y < H; y++) {
                    for (int x = 0; x < W; x++) {
                        int k = (c * H + y) * W + x;
                        double e = Math.abs(got[k] - ref[k]);
                        if (covering(ys, y / f, tile) == 1 && covering(xs, x / f, tile) == 1) {
                            interior = Math.max(interior, e);
                            sumIn += e;
                            nIn++;
                        } else {
                            seam = Math.max(seam, e);
                            sumSeam += e;
                            nSeam++;
                        }
                    }
                }
            }
            double refMax = 0;
            for (float v : ref) refMax = Math.max(refMax, Math.abs(v));
            System.out.printf("tiled vae decode vs untiled (%d x %d latents, %d-latent tiles, overlap >= %d; max |image| %.3f): "
                            + "interiors max %.3e mean %.3e (%d px), seams max %.3e mean %.3e (%d px)%n",
                    h, w, tile, overlap, refMax, interior, sumIn / nIn, nIn, seam, sumSeam / nSeam, nSeam);
            // The tiny VAE is not local (GroupNorm over the whole tile, attention over all its latents), so no
            // overlap exceeds its receptive field and the interiors cannot match the untiled decode closely:
            // measured above, interior errors are 40 % of max |image| at worst (random weights, random latents).
            // Asserted instead: (a) the blend is exact (above), (b) a regression bound on the interiors' mean
            // error, (c) the seams are hidden: the step between neighbouring pixels across the lines where a
            // hard cut would switch tiles is no larger than the untiled image's own steps there, and smaller
            // than the hard cut's.
            assertTrue(sumIn / nIn < 0.1 * refMax, "interior mean error " + sumIn / nIn);
            double[] sTiled = steps(got, ys, xs, tile, f, planes, H, W), sCut = steps(cut, ys, xs, tile, f, planes, H, W),
                    sRef = steps(ref, ys, xs, tile, f, planes, H, W), sAll = allSteps(ref, planes, H, W);
            System.out.printf("mean |step| across the cut lines: tiled %.3e, hard cut %.3e, untiled %.3e (untiled everywhere %.3e)%n",
                    sTiled[0], sCut[0], sRef[0], sAll[0]);
            assertTrue(sTiled[0] < sCut[0], "blending lowers the step at the seams");
            assertTrue(sTiled[0] <= 1.5 * sAll[0], "seams are no sharper than the image's own steps");
        }
    }

    /** Tiled encode of a larger image: allocates nothing per call; its error against the untiled posterior is reported. */
    @Test
    void tiledEncodeRunsWithoutAllocating() {
        int B = 2, h = 28, w = 24, f = CONFIG.downscale(), H = h * f, W = w * f;
        try (TiledVae tiled = TiledVae.load(checkpoint, CONFIG, Devices.host(), DType.F32, B, H, W, 12, 4);
             Vae whole = Vae.load(checkpoint, CONFIG, Devices.host(), DType.F32, B, H, W);
             Tensor image = Tensor.fromFloats(Devices.host(), DType.F32, gaussian(B * 3 * H * W, 6, 0.5), B, 3, H, W)) {
            assertEquals(9, tiled.tiles());
            float[] mean = null;
            for (int pass = 0; pass < 2; pass++) {
                long free = Devices.host().memoryInfo().free();
                Tensor[] post = tiled.encode(image);
                assertEquals(free, Devices.host().memoryInfo().free(), "tiled encode allocates nothing on the device");
                float[] m = post[0].toFloats();
                if (mean != null) assertArrayEquals(mean, m);
                mean = m;
            }
            float[] ref = whole.encode(image)[0].toFloats();
            double err = 0, refMax = 0;
            for (int i = 0; i < ref.length; i++) {
                assertTrue(Float.isFinite(mean[i]));
                err = Math.max(err, Math.abs(mean[i] - ref[i]));
                refMax = Math.max(refMax, Math.abs(ref[i]));
            }
            System.out.printf("tiled vae encode vs untiled: mean max err %.3e (max |mean| %.3f)%n", err, refMax);
        }
    }

    /** Latent index where a hard cut switches from tile k - 1 to tile k: the middle of their overlap. */
    static int cutLine(int[] p, int k, int tile) {
        return (p[k] + p[k - 1] + tile + 1) / 2;
    }

    /** {mean |img[y] - img[y - 1]| over the horizontal cut lines and |img[x] - img[x - 1]| over the vertical ones}. */
    static double[] steps(float[] img, int[] ys, int[] xs, int tile, int f, int planes, int H, int W) {
        double s = 0;
        long n = 0;
        for (int c = 0; c < planes; c++) {
            for (int k = 1; k < ys.length; k++) {
                int y = cutLine(ys, k, tile) * f;
                for (int x = 0; x < W; x++, n++) s += Math.abs(img[(c * H + y) * W + x] - img[(c * H + y - 1) * W + x]);
            }
            for (int k = 1; k < xs.length; k++) {
                int x = cutLine(xs, k, tile) * f;
                for (int y = 0; y < H; y++, n++) s += Math.abs(img[(c * H + y) * W + x] - img[(c * H + y) * W + x - 1]);
            }
        }
        return new double[] {s / n};
    }

    static double[] allSteps(float[] img, int planes, int H, int W) {
        double s = 0;
        long n = 0;
        for (int c = 0; c < planes; c++)
            for (int y = 1; y < H; y++)
                for (int x = 1; x < W; x++, n += 2) {
                    s += Math.abs(img[(c * H + y) * W + x] - img[(c * H + y - 1) * W + x]);
                    s += Math.abs(img[(c * H + y) * W + x] - img[(c * H + y) * W + x - 1]);
                }
        return new double[] {s / n};
    }

    /** Tiles covering latent index i along an axis. */
    static int covering(int[] p, int i, int tile) {
        int n = 0;
        for (int q : p) if (i >= q && i < q + tile) n++;
        return n;
    }

    static double[] wide(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = x[i];
        return d;
    }

    static float[] narrow(double[] x) {
        float[] r = new float[x.length];
        for (int i = 0; i < x.length; i++) r[i] = (float) x[i];
        return r;
    }
}
