package dev.sumi.image;

import dev.sumi.data.RgbImage;

/**
 * A small hand-drawn bitmap font for printable ASCII (32..126), so labels need no system fonts (a fresh headless CI
 * machine may have none, and java.awt text rendering fails there). Every other character is drawn as '?'.
 *
 * <p>Each glyph is 5 pixels wide and 9 tall: rows 0..6 hold capitals and digits (row 6 is the baseline), rows 7..8
 * the descenders of g, j, p, q, y and the like. Characters advance 6 pixels (one blank column between glyphs); lines
 * are 11 pixels apart. Everything is multiplied by an integer scale.
 */
public final class BitmapFont {
    private BitmapFont() {}

    static final int GLYPH_WIDTH = 5;
    static final int GLYPH_HEIGHT = 9;
    private static final int ADVANCE = GLYPH_WIDTH + 1;
    private static final int LINE = GLYPH_HEIGHT + 2;
    private static final int FIRST = 32, LAST = 126;

    /**
     * The glyphs of 32..126 in order, rows top to bottom separated by spaces; 7 rows when nothing goes below the
     * baseline, up to 9 otherwise (missing rows are blank).
     */
    private static final String[] DRAWN = {
        /*   */ "..... ..... ..... ..... ..... ..... .....",
        /* ! */ "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",
        /* " */ ".#.#. .#.#. ..... ..... ..... ..... .....",
        /* # */ ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",
        /* $ */ "..#.. .#### #.#.. .###. ..#.# ####. ..#..",
        /* % */ "##... ##..# ...#. ..#.. .#... #..## ...##",
        /* & */ ".##.. #..#. #.#.. .#... #.#.# #..#. .##.#",
        /* ' */ "..#.. ..#.. ..... ..... ..... ..... .....",
        /* ( */ "...#. ..#.. .#... .#... .#... ..#.. ...#.",
        /* ) */ ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
        /* * */ "..... ..#.. #.#.# .###. #.#.# ..#.. .....",
        /* + */ "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
        /* , */ "..... ..... ..... ..... ..... .##.. .##.. ..#.. .#...",
        /* - */ "..... ..... ..... ##### ..... ..... .....",
        /* . */ "..... ..... ..... ..... ..... .##.. .##..",
        /* / */ "..... ....# ...#. ..#.. .#... #.... .....",
        /* 0 */ ".###. #...# #..## #.#.# ##..# #...# .###.",
        /* 1 */ "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
        /* 2 */ ".###. #...# ....# ...#. ..#.. .#... #####",
        /* 3 */ "##### ...#. ..#.. ...#. ....# #...# .###.",
        /* 4 */ "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
        /* 5 */ "##### #.... ####. ....# ....# #...# .###.",
        /* 6 */ "..##. .#... #.... ####. #...# #...# .###.",
        /* 7 */ "##### ....# ...#. ..#.. .#... .#... .#...",
        /* 8 */ ".###. #...# #...# .###. #...# #...# .###.",
        /* 9 */ ".###. #...# #...# .#### ....# ...#. .##..",
        /* : */ "..... .##.. .##.. ..... .##.. .##.. .....",
        /* ; */ "..... .##.. .##.. ..... .##.. .##.. ..#.. .#...",
        /* < */ "...#. ..#.. .#... #.... .#... ..#.. ...#.",
        /* = */ "..... ..... ##### ..... ##### ..... .....",
        /* > */ ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
        /* ? */ ".###. #...# ....# ...#. ..#.. ..... ..#..",
        /* @ */ ".###. #...# #.### #.#.# #.### #.... .###.",
        /* A */ ".###. #...# #...# ##### #...# #...# #...#",
        /* B */ "####. #...# #...# ####. #...# #...# ####.",
        /* C */ ".###. #...# #.... #.... #.... #...# .###.",
        /* D */ "###.. #..#. #...# #...# #...# #..#. ###..",
        /* E */ "##### #.... #.... ####. #.... #.... #####",
        /* F */ "##### #.... #.... ####. #.... #.... #....",
        /* G */ ".###. #...# #.... #.### #...# #...# .####",
        /* H */ "#...# #...# #...# ##### #...# #...# #...#",
        /* I */ ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
        /* J */ "..### ...#. ...#. ...#. ...#. #..#. .##..",
        /* K */ "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
        /* L */ "#.... #.... #.... #.... #.... #.... #####",
        /* M */ "#...# ##.## #.#.# #.#.# #...# #...# #...#",
        /* N */ "#...# #...# ##..# #.#.# #..## #...# #...#",
        /* O */ ".###. #...# #...# #...# #...# #...# .###.",
        /* P */ "####. #...# #...# ####. #.... #.... #....",
        /* Q */ ".###. #...# #...# #...# #.#.# #..#. .##.#",
        /* R */ "####. #...# #...# ####. #.#.. #..#. #...#",
        /* S */ ".#### #.... #.... .###. ....# ....# ####.",
        /* T */ "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
        /* U */ "#...# #...# #...# #...# #...# #...# .###.",
        /* V */ "#...# #...# #...# #...# #...# .#.#. ..#..",
        /* W */ "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
        /* X */ "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
        /* Y */ "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
        /* Z */ "##### ....# ...#. ..#.. .#... #.... #####",
        /* [ */ ".###. .#... .#... .#... .#... .#... .###.",
        /* \ */ "..... #.... .#... ..#.. ...#. ....# .....",
        /* ] */ ".###. ...#. ...#. ...#. ...#. ...#. .###.",
        /* ^ */ "..#.. .#.#. #...# ..... ..... ..... .....",
        /* _ */ "..... ..... ..... ..... ..... ..... ..... #####",
        /* ` */ ".#... ..#.. ..... ..... ..... ..... .....",
        /* a */ "..... ..... .###. ....# .#### #...# .####",
        /* b */ "#.... #.... #.##. ##..# #...# #...# ####.",
        /* c */ "..... ..... .###. #.... #.... #...# .###.",
        /* d */ "....# ....# .##.# #..## #...# #...# .####",
        /* e */ "..... ..... .###. #...# ##### #.... .###.",
        /* f */ "..##. .#..# .#... ###.. .#... .#... .#...",
        /* g */ "..... ..... .#### #...# #...# #...# .#### ....# .###.",
        /* h */ "#.... #.... #.##. ##..# #...# #...# #...#",
        /* i */ "..#.. ..... .##.. ..#.. ..#.. ..#.. .###.",
        /* j */ "...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##..",
        /* k */ "#.... #.... #..#. #.#.. ##... #.#.. #..#.",
        /* l */ ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
        /* m */ "..... ..... ##.#. #.#.# #.#.# #.#.# #.#.#",
        /* n */ "..... ..... #.##. ##..# #...# #...# #...#",
        /* o */ "..... ..... .###. #...# #...# #...# .###.",
        /* p */ "..... ..... ####. #...# #...# #...# ####. #.... #....",
        /* q */ "..... ..... .#### #...# #...# #...# .#### ....# ....#",
        /* r */ "..... ..... #.##. ##..# #.... #.... #....",
        /* s */ "..... ..... .#### #.... .###. ....# ####.",
        /* t */ ".#... .#... ###.. .#... .#... .#..# ..##.",
        /* u */ "..... ..... #...# #...# #...# #..## .##.#",
        /* v */ "..... ..... #...# #...# #...# .#.#. ..#..",
        /* w */ "..... ..... #...# #...# #.#.# #.#.# .#.#.",
        /* x */ "..... ..... #...# .#.#. ..#.. .#.#. #...#",
        /* y */ "..... ..... #...# #...# #...# #...# .#### ....# .###.",
        /* z */ "..... ..... ##### ...#. ..#.. .#... #####",
        /* { */ "...#. ..#.. ..#.. .#... ..#.. ..#.. ...#.",
        /* | */ "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
        /* } */ ".#... ..#.. ..#.. ...#. ..#.. ..#.. .#...",
        /* ~ */ "..... ..... .#... #.#.# ...#. ..... .....",
    };

    /** GLYPHS[c - 32] bit (row * 5 + column) set where the glyph of c is inked. */
    private static final long[] GLYPHS = parse(DRAWN);

    /** Width in pixels of {@code text} on one line: 6 * scale per character, less the last blank column. */
    public static int textWidth(String text, int scale) {
        checkScale(scale);
        int n = text.codePointCount(0, text.length());
        return n == 0 ? 0 : Math.multiplyExact(n * ADVANCE - 1, scale);
    }

    /** Distance in pixels between the tops of two lines: 11 * scale (9 rows of glyph, 2 of leading). */
    public static int lineHeight(int scale) {
        checkScale(scale);
        return LINE * scale;
    }

    /**
     * Draws one line of {@code text} into {@code target}'s bytes with the glyph cell's top-left corner at (x, y);
     * pixels outside the image are skipped. {@code rgb} is 0xRRGGBB.
     */
    public static void draw(RgbImage target, int x, int y, String text, int scale, int rgb) {
        checkScale(scale);
        byte r = (byte) (rgb >> 16), g = (byte) (rgb >> 8), b = (byte) rgb;
        byte[] pixels = target.rgb(); // (height, width, 3)
        int w = target.width(), h = target.height();
        long penX = x;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            long glyph = glyph(cp);
            for (int row = 0; row < GLYPH_HEIGHT; row++)
                for (int col = 0; col < GLYPH_WIDTH; col++) {
                    if ((glyph >>> (row * GLYPH_WIDTH + col) & 1) == 0) continue;
                    long x0 = penX + (long) col * scale, y0 = y + (long) row * scale;
                    for (long py = Math.max(0, y0); py < Math.min(h, y0 + scale); py++)
                        for (long px = Math.max(0, x0); px < Math.min(w, x0 + scale); px++) {
                            int o = (int) ((py * w + px) * 3);
                            pixels[o] = r;
                            pixels[o + 1] = g;
                            pixels[o + 2] = b;
                        }
                }
            penX += (long) ADVANCE * scale;
        }
    }

    /** The bit mask of code point cp's glyph ('?' for anything outside printable ASCII). */
    static long glyph(int cp) {
        return GLYPHS[(cp >= FIRST && cp <= LAST ? cp : '?') - FIRST];
    }

    private static void checkScale(int scale) {
        if (scale < 1) throw new IllegalArgumentException("font scale " + scale + " < 1");
    }

    private static long[] parse(String[] drawn) {
        if (drawn.length != LAST - FIRST + 1) throw new IllegalStateException("font has " + drawn.length + " glyphs");
        long[] glyphs = new long[drawn.length];
        for (int c = 0; c < drawn.length; c++) {
            String[] rows = drawn[c].split(" ");
            if (rows.length < 7 || rows.length > GLYPH_HEIGHT)
                throw new IllegalStateException("glyph '" + (char) (c + FIRST) + "' has " + rows.length + " rows");
            for (int row = 0; row < rows.length; row++) {
                if (!rows[row].matches("[#.]{5}"))
                    throw new IllegalStateException("glyph '" + (char) (c + FIRST) + "' row " + row + ": " + rows[row]);
                for (int col = 0; col < GLYPH_WIDTH; col++)
                    if (rows[row].charAt(col) == '#') glyphs[c] |= 1L << (row * GLYPH_WIDTH + col);
            }
        }
        return glyphs;
    }
}
