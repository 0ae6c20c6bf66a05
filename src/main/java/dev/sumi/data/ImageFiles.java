package dev.sumi.data;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * Reads training images (PNG, JPEG, BMP through javax.imageio; WebP through the TwelveMonkeys ImageIO plugin) into
 * 8-bit RGB, as kohya's {@code PIL.Image.open(path).convert("RGB")} does:
 * <ul>
 *   <li>alpha is dropped, not composited: a transparent pixel keeps whatever colour it stores (PIL's convert("RGB")
 *       does the same; kohya's alpha_mask option, which would use it, is not supported);</li>
 *   <li>grayscale becomes R = G = B; palette images are looked up;</li>
 *   <li>16-bit samples scale to 8 bits by round(v * 255 / 65535) (PIL clips 16-bit grayscale at 255 instead, a
 *       known quirk we do not copy);</li>
 *   <li>JPEG EXIF orientation is applied ({@link ExifOrientation}; PIL/kohya ignore it).</li>
 * </ul>
 * CMYK/YCCK JPEGs are refused with a message saying to convert them (the JDK's JPEG reader cannot read them).
 */
public final class ImageFiles {
    private ImageFiles() {}

    /** File name extensions taken as images (kohya's IMAGE_EXTENSIONS, matched without regard to case). */
    public static final List<String> EXTENSIONS = List.of(".png", ".jpg", ".jpeg", ".webp", ".bmp");

    public static boolean isImageName(String fileName) {
        String lower = fileName.toLowerCase(Locale.ROOT);
        for (String ext : EXTENSIONS) if (lower.endsWith(ext) && lower.length() > ext.length()) return true;
        return false;
    }

    /** The size a decoded image will have (EXIF orientation applied), from the file's header only. */
    public static Size size(Path file) {
        byte[] bytes = readBytes(file);
        return withReader(file, bytes, reader -> {
            int w = reader.getWidth(0), h = reader.getHeight(0);
            return ExifOrientation.swapsAxes(orientationOf(bytes)) ? new Size(h, w) : new Size(w, h);
        });
    }

    /** Width and height in pixels. */
    public record Size(int width, int height) {}

    /** Decodes a file into 8-bit RGB. */
    public static RgbImage read(Path file) {
        return decode(file, readBytes(file));
    }

    /** Decodes an image file's bytes (already read from {@code file}, named in errors) into 8-bit RGB. */
    public static RgbImage decode(Path file, byte[] bytes) {
        BufferedImage image = withReader(file, bytes, reader -> reader.read(0));
        RgbImage rgb = toRgb(file, image);
        return ExifOrientation.apply(rgb, orientationOf(bytes));
    }

    private static int orientationOf(byte[] bytes) {
        return ExifOrientation.read(bytes);                    // 1 for anything that is not a JPEG with the tag
    }

    static byte[] readBytes(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new DataException(file + ": cannot read the file (" + e.getMessage() + ")");
        }
    }

    private interface ReaderCall<T> {
        T call(ImageReader reader) throws IOException;
    }

    private static <T> T withReader(Path file, byte[] bytes, ReaderCall<T> call) {
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) throw new DataException(file + ": not a readable image (" + what(file) + ")");
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                return call.call(reader);
            } finally {
                reader.dispose();
            }
        } catch (DataException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            String reason = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            if (reason.contains("Unsupported Image Type"))
                reason = "a CMYK or YCCK JPEG, which sumi cannot read: convert it to RGB (e.g. save it as PNG)";
            throw new DataException(file + ": corrupt or unreadable image: " + reason.lines().findFirst().orElse(""));
        }
    }

    private static String what(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        return name.endsWith(".webp") ? "no WebP decoder found: convert it to PNG" : "unknown or damaged format";
    }

    /** Any BufferedImage the readers produce, as 8-bit RGB with alpha dropped (see the class comment). */
    static RgbImage toRgb(Path file, BufferedImage image) {
        int w = image.getWidth(), h = image.getHeight();
        ColorModel cm = image.getColorModel();
        Raster raster = image.getRaster();
        byte[] rgb = new byte[Math.multiplyExact(Math.multiplyExact(w, h), 3)];   // (h, w, 3)
        if (cm instanceof IndexColorModel icm) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int index = raster.getSample(x, y, 0), o = (y * w + x) * 3;
                    rgb[o] = (byte) icm.getRed(index);
                    rgb[o + 1] = (byte) icm.getGreen(index);
                    rgb[o + 2] = (byte) icm.getBlue(index);
                }
            }
            return new RgbImage(w, h, rgb);
        }
        int colorType = cm.getColorSpace().getType();
        int colors = cm.getNumColorComponents();
        boolean gray = colorType == ColorSpace.TYPE_GRAY && colors == 1;
        if (!gray && !(colorType == ColorSpace.TYPE_RGB && colors == 3))
            throw new DataException(file + ": unsupported colour space (" + colors + " colour channels, type " + colorType
                    + "): convert it to RGB");
        // raster bands hold colour channels first, then alpha; gray is read linearly as stored (not via getRGB, which
        // would treat it as linear light and brighten it)
        int[] bits = image.getSampleModel().getSampleSize();
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int o = (y * w + x) * 3;
                for (int c = 0; c < 3; c++) {
                    int band = gray ? 0 : c;
                    rgb[o + c] = (byte) to8Bit(raster.getSample(x, y, band), bits[band]);
                }
            }
        }
        return new RgbImage(w, h, rgb);
    }

    private static int to8Bit(int sample, int bits) {
        if (bits == 8) return sample;
        long max = (1L << bits) - 1;
        return (int) ((sample * 255L * 2 + max) / (2 * max));     // round(sample * 255 / max)
    }
}
