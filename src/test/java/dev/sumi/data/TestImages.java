package dev.sumi.data;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/** Small images written by the tests. */
final class TestImages {
    private TestImages() {}

    /** An RGB image whose pixel (x, y) is rgb(x, y). */
    interface Pixels {
        int rgb(int x, int y);
    }

    static BufferedImage rgb(int w, int h, Pixels pixels) {
        BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) image.setRGB(x, y, pixels.rgb(x, y));
        return image;
    }

    /** A deterministic pattern distinct per pixel and channel. */
    static BufferedImage pattern(int w, int h, int salt) {
        return rgb(w, h, (x, y) -> ((x * 37 + y * 11 + salt) & 0xff) << 16 | ((x * 5 + y * 53 + 7 * salt) & 0xff) << 8
                | ((x * 91 + y * 29 + 3 * salt) & 0xff));
    }

    static byte[] encode(BufferedImage image, String format) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            if (!ImageIO.write(image, format, out)) throw new IllegalStateException("no " + format + " writer for this image");
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path write(Path file, BufferedImage image, String format) {
        return write(file, encode(image, format));
    }

    static Path write(Path file, byte[] bytes) {
        try {
            Files.createDirectories(file.getParent());
            return Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path writeText(Path file, String text) {
        return write(file, text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /** A JPEG with an APP1 Exif segment holding only the orientation tag, put after the JFIF APP0 segment. */
    static byte[] jpegWithOrientation(BufferedImage image, int orientation, boolean littleEndian) {
        byte[] jpeg = encode(image, "jpg");
        int insertAt = 2;
        if ((jpeg[2] & 0xff) == 0xFF && (jpeg[3] & 0xff) == 0xE0) insertAt = 4 + ((jpeg[4] & 0xff) << 8 | (jpeg[5] & 0xff));
        byte[] tiff = new byte[8 + 2 + 12 + 4];
        java.nio.ByteBuffer t = java.nio.ByteBuffer.wrap(tiff)
                .order(littleEndian ? java.nio.ByteOrder.LITTLE_ENDIAN : java.nio.ByteOrder.BIG_ENDIAN);
        t.put(littleEndian ? (byte) 'I' : (byte) 'M').put(littleEndian ? (byte) 'I' : (byte) 'M').putShort((short) 42).putInt(8);
        t.putShort((short) 1);                                                    // one IFD entry
        t.putShort((short) 0x0112).putShort((short) 3).putInt(1).putShort((short) orientation).putShort((short) 0);
        t.putInt(0);                                                              // no next IFD
        int length = 2 + 6 + tiff.length;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(jpeg, 0, insertAt);
        out.write(0xFF);
        out.write(0xE1);
        out.write(length >> 8);
        out.write(length & 0xff);
        out.writeBytes(new byte[] {'E', 'x', 'i', 'f', 0, 0});
        out.writeBytes(tiff);
        out.write(jpeg, insertAt, jpeg.length - insertAt);
        return out.toByteArray();
    }
}
