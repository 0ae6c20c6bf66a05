package dev.sumi.data;

/**
 * The EXIF orientation of a JPEG (TIFF tag 0x0112 in the APP1 "Exif" segment), values 1..8, and how to turn the
 * stored pixels into the picture a viewer shows. Cameras store the sensor's rows and only write this tag, so a
 * portrait photo decodes sideways without it. kohya/PIL's {@code Image.open} ignores the tag; sumi applies it,
 * as image viewers and {@code PIL.ImageOps.exif_transpose} do.
 */
public final class ExifOrientation {
    private ExifOrientation() {}

    private static final int TAG_ORIENTATION = 0x0112;

    /** Orientation 1..8 from a JPEG's bytes; 1 (as stored) when there is no Exif segment or no valid tag. */
    public static int read(byte[] jpeg) {
        if (jpeg.length < 4 || (jpeg[0] & 0xff) != 0xFF || (jpeg[1] & 0xff) != 0xD8) return 1;
        int p = 2;
        while (p + 4 <= jpeg.length) {
            if ((jpeg[p] & 0xff) != 0xFF) return 1;
            int marker = jpeg[p + 1] & 0xff;
            if (marker == 0xFF) { p++; continue; }              // fill byte before a marker
            if (marker == 0xDA || marker == 0xD9) return 1;      // start of scan / end of image: no more headers
            int length = u16(jpeg, p + 2, false);
            if (length < 2 || p + 2 + length > jpeg.length) return 1;
            if (marker == 0xE1 && length >= 8 && isExifHeader(jpeg, p + 4)) {
                int orientation = tiffOrientation(jpeg, p + 10, p + 2 + length);
                if (orientation != 0) return orientation;
            }
            p += 2 + length;
        }
        return 1;
    }

    private static boolean isExifHeader(byte[] b, int at) {
        return b[at] == 'E' && b[at + 1] == 'x' && b[at + 2] == 'i' && b[at + 3] == 'f' && b[at + 4] == 0 && b[at + 5] == 0;
    }

    /** The orientation tag of IFD0 in the TIFF structure at [start, end); 0 when absent or malformed. */
    private static int tiffOrientation(byte[] b, int start, int end) {
        if (end - start < 8) return 0;
        boolean little;
        if (b[start] == 'I' && b[start + 1] == 'I') little = true;
        else if (b[start] == 'M' && b[start + 1] == 'M') little = false;
        else return 0;
        if (u16(b, start + 2, little) != 42) return 0;
        long ifd = start + u32(b, start + 4, little);
        if (ifd + 2 > end) return 0;
        int entries = u16(b, (int) ifd, little);
        for (int i = 0; i < entries; i++) {
            int e = (int) ifd + 2 + 12 * i;
            if (e + 12 > end) return 0;
            if (u16(b, e, little) != TAG_ORIENTATION) continue;
            int type = u16(b, e + 2, little);
            if (type != 3) return 0;                               // SHORT, as the EXIF standard says
            int value = u16(b, e + 8, little);                     // a SHORT value sits left-justified in the field
            return value >= 1 && value <= 8 ? value : 0;
        }
        return 0;
    }

    private static int u16(byte[] b, int at, boolean little) {
        int lo = little ? b[at] & 0xff : b[at + 1] & 0xff;
        int hi = little ? b[at + 1] & 0xff : b[at] & 0xff;
        return hi << 8 | lo;
    }

    private static long u32(byte[] b, int at, boolean little) {
        long v = 0;
        for (int i = 0; i < 4; i++) v |= (long) (b[at + (little ? i : 3 - i)] & 0xff) << (8 * i);   // byte i = bits 8i..
        return v;
    }

    /** Whether an orientation swaps width and height (the four that rotate by 90 degrees or transpose). */
    public static boolean swapsAxes(int orientation) {
        return orientation >= 5;
    }

    /** The stored image turned into the displayed one (orientation 1 returns it unchanged). */
    public static RgbImage apply(RgbImage stored, int orientation) {
        if (orientation == 1) return stored;
        int w = stored.width(), h = stored.height();
        int outW = swapsAxes(orientation) ? h : w, outH = swapsAxes(orientation) ? w : h;
        byte[] out = new byte[stored.rgb().length];                 // (outH, outW, 3)
        for (int y = 0; y < outH; y++) {
            for (int x = 0; x < outW; x++) {
                // (sx, sy): the stored pixel shown at display (x, y)
                int sx, sy;
                switch (orientation) {
                    case 2 -> { sx = w - 1 - x; sy = y; }           // mirrored left-right
                    case 3 -> { sx = w - 1 - x; sy = h - 1 - y; }   // rotated 180
                    case 4 -> { sx = x; sy = h - 1 - y; }           // mirrored top-bottom
                    case 5 -> { sx = y; sy = x; }                   // transposed
                    case 6 -> { sx = y; sy = h - 1 - x; }           // shown rotated 90 clockwise
                    case 7 -> { sx = w - 1 - y; sy = h - 1 - x; }   // transversed
                    case 8 -> { sx = w - 1 - y; sy = x; }           // shown rotated 90 counter-clockwise
                    default -> throw new IllegalArgumentException("EXIF orientation " + orientation + " (1..8)");
                }
                System.arraycopy(stored.rgb(), (sy * w + sx) * 3, out, (y * outW + x) * 3, 3);
            }
        }
        return new RgbImage(outW, outH, out);
    }
}
