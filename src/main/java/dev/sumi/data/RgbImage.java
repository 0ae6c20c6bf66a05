package dev.sumi.data;

/**
 * A decoded training image: 8-bit RGB, row-major, interleaved (what kohya gets from PIL's {@code convert("RGB")}).
 *
 * @param rgb (height, width, 3) bytes, 0..255 read unsigned
 */
public record RgbImage(int width, int height, byte[] rgb) {
    public RgbImage {
        if (width <= 0 || height <= 0) throw new IllegalArgumentException("image size " + width + "x" + height);
        if (rgb.length != Math.multiplyExact(Math.multiplyExact(width, height), 3))
            throw new IllegalArgumentException("rgb holds " + rgb.length + " bytes for " + width + "x" + height);
    }

    /** Channel c (0 R, 1 G, 2 B) of pixel (x, y), 0..255. */
    public int sample(int x, int y, int c) {
        return rgb[(y * width + x) * 3 + c] & 0xff;
    }
}
