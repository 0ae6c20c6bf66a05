package dev.sumi.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sumi.data.RgbImage;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BitmapFontTest {
    /** c drawn at scale s in black on a white image exactly one glyph cell large, as a string of '#' and '.'. */
    private static String render(String c, int s) {
        int w = BitmapFont.textWidth(c, s), h = 9 * s;
        RgbImage img = new RgbImage(w, h, white(w, h));
        BitmapFont.draw(img, 0, 0, c, s, 0x000000);
        StringBuilder out = new StringBuilder();
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int r = img.sample(x, y, 0), g = img.sample(x, y, 1), b = img.sample(x, y, 2);
                assertTrue(r == g && g == b && (r == 0 || r == 255), "pixels are ink or paper");
                out.append(r == 0 ? '#' : '.');
            }
            out.append('\n');
        }
        return out.toString();
    }

    private static byte[] white(int w, int h) {
        byte[] b = new byte[w * h * 3];
        Arrays.fill(b, (byte) 255);
        return b;
    }

    @Test
    void everyPrintableGlyphIsInkedAndDistinct() {
        Map<String, Character> seen = new HashMap<>();
        for (char c = 32; c <= 126; c++) {
            String glyph = render(String.valueOf(c), 1);
            assertEquals(c == ' ', glyph.indexOf('#') < 0, "glyph '" + c + "' inked");
            Character before = seen.put(glyph, c);
            assertTrue(before == null, "'" + c + "' looks like '" + before + "'\n" + glyph);
        }
        assertEquals(95, seen.size());
    }

    @Test
    void descendersGoBelowTheBaseline() {
        for (char c : "gjpqy,;_".toCharArray()) {
            String glyph = render(String.valueOf(c), 1);
            assertTrue(glyph.split("\n")[7].contains("#"), "'" + c + "' reaches row 7\n" + glyph);
        }
        for (char c : "AHMbdhk09".toCharArray())
            assertFalse(render(String.valueOf(c), 1).split("\n")[7].contains("#"), "'" + c + "' sits on the baseline");
    }

    @Test
    void nonAsciiDrawsAsQuestionMark() {
        String question = render("?", 1);
        assertEquals(question, render("猫", 1));
        assertEquals(question, render("é", 1));
        assertEquals(question, render("\uD83C\uDF38", 1)); // one code point (a surrogate pair) is one glyph
        assertEquals(question, render("\n", 1));
    }

    @Test
    void widthsAndScaling() {
        assertEquals(0, BitmapFont.textWidth("", 3));
        assertEquals(5, BitmapFont.textWidth("A", 1));
        assertEquals(17, BitmapFont.textWidth("abc", 1));
        assertEquals(51, BitmapFont.textWidth("abc", 3));
        assertEquals(5, BitmapFont.textWidth("\uD83C\uDF38", 1));
        assertEquals(11, BitmapFont.lineHeight(1));
        assertEquals(44, BitmapFont.lineHeight(4));
        assertThrows(IllegalArgumentException.class, () -> BitmapFont.textWidth("a", 0));
        // scale 3 is scale 1 with every pixel a 3x3 block
        String one = render("Rg", 1), three = render("Rg", 3);
        String[] rows1 = one.split("\n"), rows3 = three.split("\n");
        for (int y = 0; y < rows3.length; y++)
            for (int x = 0; x < rows3[y].length(); x++)
                assertEquals(rows1[y / 3].charAt(x / 3), rows3[y].charAt(x), "pixel " + x + "," + y);
    }

    @Test
    void drawingClipsAtTheEdges() {
        int w = 10, h = 8;
        RgbImage img = new RgbImage(w, h, white(w, h));
        BitmapFont.draw(img, -3, -4, "WW", 2, 0x102030);
        BitmapFont.draw(img, w - 2, h - 3, "M", 2, 0x102030);
        BitmapFont.draw(img, -1000, 1000, "far away", 5, 0x102030);
        int inked = 0;
        for (int i = 0; i < w * h; i++)
            if (img.rgb()[i * 3] == 0x10) {
                inked++;
                assertArrayEquals(new byte[] {0x10, 0x20, 0x30}, Arrays.copyOfRange(img.rgb(), i * 3, i * 3 + 3));
            }
        assertTrue(inked > 0 && inked < w * h, inked + " pixels inked");
        assertEquals(0x10, img.sample(w - 1, h - 1, 0), "M's bottom-left stroke reaches the last pixel");
    }
}
