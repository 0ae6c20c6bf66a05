package dev.sumi.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class ResampleTest {
    private static final Path GOLDEN = Path.of("src/test/resources/golden/data");

    private static float[] planar(RgbImage image) {
        int w = image.width(), h = image.height();
        float[] out = new float[3 * h * w];
        for (int c = 0; c < 3; c++) for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) out[(c * h + y) * w + x] = image.sample(x, y, c);
        return out;
    }

    /** cv2 INTER_AREA written as the integral it is: mean of the input over the output pixel's rectangle, in F64. */
    private static double areaReference(float[] src, int c, int inW, int inH, int outW, int outH, int ox, int oy) {
        double sx = (double) inW / outW, sy = (double) inH / outH, sum = 0;
        for (int y = 0; y < inH; y++) {
            double oyLen = Math.max(0, Math.min(y + 1, (oy + 1) * sy) - Math.max(y, oy * sy));
            for (int x = 0; x < inW; x++) {
                double oxLen = Math.max(0, Math.min(x + 1, (ox + 1) * sx) - Math.max(x, ox * sx));
                sum += oxLen * oyLen * src[(c * inH + y) * inW + x];
            }
        }
        return sum / (sx * sy);
    }

    @Test
    void areaDownscaleIsTheMeanOverEachOutputPixel() {
        RgbImage image = ImageFiles.read(GOLDEN.resolve("resize-in.png"));       // 13x9
        float[] src = planar(image);
        for (int[] size : new int[][] {{5, 4}, {13, 3}, {6, 9}, {1, 1}}) {
            float[] out = Resample.resize(src, 3, 13, 9, size[0], size[1], Resample.Filter.AREA);
            double max = 0;
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < size[1]; y++)
                    for (int x = 0; x < size[0]; x++)
                        max = Math.max(max, Math.abs(out[(c * size[1] + y) * size[0] + x]
                                - areaReference(src, c, 13, 9, size[0], size[1], x, y)));
            assertTrue(max < 1e-3, size[0] + "x" + size[1] + ": max error " + max);   // float storage of 0..255
        }
    }

    @Test
    void lanczosMatchesPillow() {
        // Pillow rounds to 8 bits after its horizontal pass and again at the end: at most 0.5 x sum|vertical weights|
        // (under 1.3 for Lanczos-3) + 0.5 levels, so anything over 1.5 levels is a different filter
        float[] src = planar(ImageFiles.read(GOLDEN.resolve("resize-in.png")));
        for (String name : new String[] {"resize-lanczos-29x20.png", "resize-lanczos-8x21.png"}) {
            RgbImage pil = ImageFiles.read(GOLDEN.resolve(name));
            assertEquals(Resample.Filter.LANCZOS, Resample.defaultFilter(13, 9, pil.width(), pil.height()));
            float[] out = Resample.resize(src, 3, 13, 9, pil.width(), pil.height(), Resample.Filter.LANCZOS);
            float[] expected = planar(pil);
            double max = 0;
            for (int i = 0; i < out.length; i++) max = Math.max(max, Math.abs(out[i] - expected[i]));
            System.out.println(name + ": max |sumi - Pillow| = " + max + " levels");
            assertTrue(max <= 1.5, name + ": max error " + max);
        }
    }

    @Test
    void constantImagesStayConstant() {
        float[] flat = new float[3 * 7 * 11];
        java.util.Arrays.fill(flat, 77f);
        for (Resample.Filter f : Resample.Filter.values())
            for (float v : Resample.resize(flat, 3, 11, 7, 4, 19, f)) assertEquals(77f, v, 1e-3f, f.toString());
    }

    @Test
    void defaultFilterFollowsKohya() {
        assertEquals(Resample.Filter.AREA, Resample.defaultFilter(100, 100, 50, 100));
        assertEquals(Resample.Filter.LANCZOS, Resample.defaultFilter(100, 100, 50, 101));
    }
}
