package dev.sumi.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.WritableRaster;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFilesTest {
    @TempDir
    Path dir;

    private static final Path GOLDEN = Path.of("src/test/resources/golden/data");

    @Test
    void pngAndBmpDecodeExactly() {
        BufferedImage source = TestImages.pattern(9, 7, 3);
        for (String format : new String[] {"png", "bmp"}) {
            RgbImage image = ImageFiles.read(TestImages.write(dir.resolve("a." + format), source, format));
            assertEquals(9, image.width());
            assertEquals(7, image.height());
            for (int y = 0; y < 7; y++)
                for (int x = 0; x < 9; x++) {
                    int rgb = source.getRGB(x, y);
                    assertEquals(rgb >> 16 & 0xff, image.sample(x, y, 0), format);
                    assertEquals(rgb >> 8 & 0xff, image.sample(x, y, 1), format);
                    assertEquals(rgb & 0xff, image.sample(x, y, 2), format);
                }
        }
    }

    @Test
    void alphaIsDroppedNotComposited() {
        BufferedImage argb = new BufferedImage(2, 1, BufferedImage.TYPE_INT_ARGB);
        argb.setRGB(0, 0, 0x000AC81E);            // fully transparent, stores (10, 200, 30)
        argb.setRGB(1, 0, 0x80FF0000);            // half transparent red
        RgbImage image = ImageFiles.read(TestImages.write(dir.resolve("rgba.png"), argb, "png"));
        assertArrayEquals(new byte[] {10, (byte) 200, 30, (byte) 255, 0, 0}, image.rgb());
    }

    @Test
    void grayscaleIsReadAsStoredNotAsLinearLight() {
        BufferedImage gray = new BufferedImage(3, 1, BufferedImage.TYPE_BYTE_GRAY);
        gray.getRaster().setPixels(0, 0, 3, 1, new int[] {0, 100, 255});
        RgbImage image = ImageFiles.read(TestImages.write(dir.resolve("gray.png"), gray, "png"));
        assertArrayEquals(new byte[] {0, 0, 0, 100, 100, 100, (byte) 255, (byte) 255, (byte) 255}, image.rgb());
    }

    @Test
    void sixteenBitSamplesRoundToEightBits() {
        int[] values = {0, 1000, 32896, 65535};   // 1000 / 257 = 3.89 -> 4; 32896 / 257 = 128
        BufferedImage gray = new BufferedImage(4, 1, BufferedImage.TYPE_USHORT_GRAY);
        gray.getRaster().setPixels(0, 0, 4, 1, values);
        RgbImage g = ImageFiles.read(TestImages.write(dir.resolve("gray16.png"), gray, "png"));
        assertArrayEquals(new byte[] {0, 0, 0, 4, 4, 4, (byte) 128, (byte) 128, (byte) 128, (byte) 255, (byte) 255, (byte) 255}, g.rgb());

        var cm = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_sRGB), false, false, Transparency.OPAQUE,
                DataBuffer.TYPE_USHORT);
        WritableRaster raster = cm.createCompatibleWritableRaster(1, 1);
        raster.setPixel(0, 0, new int[] {65535, 1000, 32896});
        BufferedImage rgb16 = new BufferedImage(cm, raster, false, null);
        RgbImage c = ImageFiles.read(TestImages.write(dir.resolve("rgb16.png"), rgb16, "png"));
        assertArrayEquals(new byte[] {(byte) 255, 4, (byte) 128}, c.rgb());
    }

    @Test
    void paletteImagesAreLookedUp() {
        byte[] r = {0, (byte) 255, 10}, g = {0, 0, 20}, b = {0, 0, 30}, a = {(byte) 255, (byte) 255, 0};
        BufferedImage indexed = new BufferedImage(3, 1, BufferedImage.TYPE_BYTE_INDEXED, new IndexColorModel(2, 3, r, g, b, a));
        indexed.getRaster().setPixels(0, 0, 3, 1, new int[] {1, 2, 0});
        RgbImage image = ImageFiles.read(TestImages.write(dir.resolve("palette.png"), indexed, "png"));
        assertArrayEquals(new byte[] {(byte) 255, 0, 0, 10, 20, 30, 0, 0, 0}, image.rgb());
    }

    /** Stored 40x24: gray, a red block at the top-left corner and a blue one at the top-right. */
    private static BufferedImage markers() {
        return TestImages.rgb(40, 24, (x, y) -> y < 8 && x < 8 ? 0xFF0000 : y < 8 && x >= 32 ? 0x0000FF : 0x808080);
    }

    @Test
    void exifOrientationIsApplied() {
        // where the stored top-left (red) and top-right (blue) corners are shown, per EXIF orientation 1..8
        String[] red = {"TL", "TR", "BR", "BL", "TL", "TR", "BR", "BL"};
        String[] blue = {"TR", "TL", "BL", "BR", "BL", "BR", "TR", "TL"};
        for (int o = 1; o <= 8; o++) {
            for (boolean little : new boolean[] {true, false}) {
                byte[] jpeg = TestImages.jpegWithOrientation(markers(), o, little);
                assertEquals(o, ExifOrientation.read(jpeg));
                Path file = TestImages.write(dir.resolve("o" + o + little + ".jpg"), jpeg);
                RgbImage image = ImageFiles.read(file);
                int w = o >= 5 ? 24 : 40, h = o >= 5 ? 40 : 24;
                assertEquals(w, image.width(), "orientation " + o);
                assertEquals(h, image.height(), "orientation " + o);
                assertEquals(new ImageFiles.Size(w, h), ImageFiles.size(file));
                assertEquals(red[o - 1] + " " + blue[o - 1], colourCorner(image, 0) + " " + colourCorner(image, 2),
                        "orientation " + o);
            }
        }
        assertEquals(1, ExifOrientation.read(TestImages.encode(markers(), "jpg")));   // no Exif segment
    }

    /** The corner whose 4x4 center-of-block pixel is dominated by the channel. */
    private static String colourCorner(RgbImage image, int channel) {
        int w = image.width(), h = image.height();
        int[][] corners = {{4, 4}, {w - 5, 4}, {4, h - 5}, {w - 5, h - 5}};
        String[] names = {"TL", "TR", "BL", "BR"};
        String found = "none";
        for (int i = 0; i < 4; i++) {
            int x = corners[i][0], y = corners[i][1];
            if (image.sample(x, y, channel) > 200 && image.sample(x, y, 1) < 60) found = names[i];
        }
        return found;
    }

    @Test
    void corruptAndUnknownFilesGiveOneLineErrorsNamingTheFile() throws Exception {
        byte[] png = TestImages.encode(TestImages.pattern(16, 16, 1), "png");
        Path truncated = TestImages.write(dir.resolve("truncated.png"), Arrays.copyOf(png, png.length / 2));
        Path garbage = TestImages.write(dir.resolve("garbage.jpg"), "not an image at all".getBytes());
        Path missing = dir.resolve("missing.png");
        for (Path file : new Path[] {truncated, garbage, missing}) {
            DataException e = assertThrows(DataException.class, () -> ImageFiles.read(file));
            assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
        }
        assertTrue(Files.exists(truncated));
    }

    @Test
    void cmykJpegIsRefusedWithAWayOut() {
        Path cmyk = GOLDEN.resolve("cmyk.jpg");
        DataException e = assertThrows(DataException.class, () -> ImageFiles.read(cmyk));
        assertTrue(e.getMessage().startsWith(cmyk.toString()) && e.getMessage().contains("convert"), e.getMessage());
    }

    @Test
    void webpLosslessDecodesExactly() {
        RgbImage webp = ImageFiles.read(GOLDEN.resolve("webp-lossless.webp"));
        RgbImage png = ImageFiles.read(GOLDEN.resolve("webp-lossless.png"));
        assertEquals(7, webp.width());
        assertArrayEquals(png.rgb(), webp.rgb());
    }

    @Test
    void webpLossyWithAlphaIsCloseToLibwebp() {
        // the same bitstream, but VP8 decoders may upsample the half-resolution chroma differently (libwebp's "fancy"
        // upsampler interpolates): on a gradient of at most 5 levels a pixel that moves a value by about one step,
        // plus 1-2 levels of YUV -> RGB rounding, hence 8
        RgbImage webp = ImageFiles.read(GOLDEN.resolve("webp-lossy-alpha.webp"));
        RgbImage pil = ImageFiles.read(GOLDEN.resolve("webp-lossy-alpha.png"));
        assertEquals(16, webp.width());
        assertEquals(12, webp.height());
        int max = 0;
        for (int i = 0; i < webp.rgb().length; i++) max = Math.max(max, Math.abs((webp.rgb()[i] & 0xff) - (pil.rgb()[i] & 0xff)));
        System.out.println("webp lossy: max |sumi - libwebp| = " + max + " levels");
        assertTrue(max <= 8, "max difference " + max);
    }

    @Test
    void imageNamesFollowKohyasExtensions() {
        assertTrue(ImageFiles.isImageName("a.PNG"));
        assertTrue(ImageFiles.isImageName("b.jpeg"));
        assertTrue(ImageFiles.isImageName("c.WebP"));
        assertFalse(ImageFiles.isImageName("d.gif"));
        assertFalse(ImageFiles.isImageName("e.txt"));
        assertFalse(ImageFiles.isImageName(".png"));
    }
}
