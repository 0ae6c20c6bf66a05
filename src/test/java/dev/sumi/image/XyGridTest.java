package dev.sumi.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sumi.data.RgbImage;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class XyGridTest {
    private static RgbImage[][] cells(int rows, int cols, int w, int h) {
        RgbImage[][] cells = new RgbImage[rows][cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) cells[r][c] = PngFileTest.noise(w, h, r * 100L + c);
        return cells;
    }

    private static boolean darkIn(RgbImage img, int x0, int y0, int x1, int y1) {
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
                if (img.sample(x, y, 0) < 128 && img.sample(x, y, 1) < 128 && img.sample(x, y, 2) < 128) return true;
        return false;
    }

    private static void assertCellsAt(RgbImage grid, RgbImage[][] cells, int left, int top) {
        int w = cells[0][0].width(), h = cells[0][0].height();
        for (int r = 0; r < cells.length; r++)
            for (int c = 0; c < cells[r].length; c++)
                for (int y = 0; y < h; y++) {
                    int at = ((top + r * h + y) * grid.width() + left + c * w) * 3;
                    assertArrayEquals(Arrays.copyOfRange(cells[r][c].rgb(), y * w * 3, (y + 1) * w * 3),
                            Arrays.copyOfRange(grid.rgb(), at, at + w * 3), "cell [" + r + "][" + c + "] row " + y);
                }
    }

    @Test
    void tinyCellsLandPixelExactUnderTheirLabels() {
        List<String> weights = List.of("0.6", "0.8", "1.0");
        List<String> checkpoints = List.of("mylora-000002", "mylora-000004 (final, the one to use)");
        RgbImage[][] cells = cells(2, 3, 64, 64);
        RgbImage grid = XyGrid.render("weight", weights, "checkpoint", checkpoints, cells);
        // cells sit flush at the bottom right: the margins are whatever is left of the grid
        int left = grid.width() - 3 * 64, top = grid.height() - 2 * 64;
        XyGrid.Layout l = XyGrid.layout("weight", weights, "checkpoint", checkpoints, 64, 64);
        assertEquals(new XyGrid.Layout(1, left, top, 64, 64, 3, 2), l);
        assertTrue(left >= 32 && left <= 96 && top > 2 * BitmapFont.lineHeight(1), left + " x " + top);
        assertCellsAt(grid, cells, left, top);
        for (int c = 0; c < 3; c++) assertTrue(darkIn(grid, l.cellX(c), 0, l.cellX(c) + 64, top), "label over column " + c);
        for (int r = 0; r < 2; r++) assertTrue(darkIn(grid, 0, l.cellY(r), left, l.cellY(r) + 64), "label beside row " + r);
        assertTrue(darkIn(grid, 0, 0, left, top), "Y title in the corner");
        // only ink and paper outside the cells
        for (int y = 0; y < top; y++)
            for (int x = 0; x < grid.width(); x++) {
                int v = grid.sample(x, y, 0);
                assertTrue((v == 0 || v == 255) && grid.sample(x, y, 1) == v && grid.sample(x, y, 2) == v);
            }
    }

    @Test
    void bigCellsGetBigLabels() {
        RgbImage[][] cells = new RgbImage[1][2];
        for (int c = 0; c < 2; c++) {
            byte[] rgb = new byte[512 * 512 * 3];
            Arrays.fill(rgb, (byte) (100 + c));
            cells[0][c] = new RgbImage(512, 512, rgb);
        }
        RgbImage grid = XyGrid.render("weight", List.of("0.6", "1.0"), null, List.of("step 400"), cells);
        XyGrid.Layout l = XyGrid.layout("weight", List.of("0.6", "1.0"), null, List.of("step 400"), 512, 512);
        assertEquals(4, l.scale());
        assertEquals(grid.width() - 1024, l.left());
        assertEquals(256, l.left(), "short row labels get half a cell");
        assertCellsAt(grid, cells, l.left(), l.top());
        assertTrue(darkIn(grid, 0, l.top(), l.left(), grid.height()));
        assertTrue(l.top() >= 2 * BitmapFont.lineHeight(4));
    }

    @Test
    void withoutLabelsTheGridIsJustTheCells() {
        RgbImage[][] cells = cells(2, 2, 8, 6);
        RgbImage grid = XyGrid.render(null, List.of("", ""), "", Arrays.asList(null, " "), cells);
        assertEquals(16, grid.width());
        assertEquals(12, grid.height());
        assertCellsAt(grid, cells, 0, 0);
    }

    @Test
    void mismatchedCellsFailNamingTheCell() {
        RgbImage[][] cells = cells(2, 2, 16, 16);
        cells[1][0] = PngFileTest.noise(16, 15, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> XyGrid.render("x", List.of("a", "b"), "y", List.of("c", "d"), cells));
        assertTrue(e.getMessage().contains("cell [1][0] is 16x15"), e.getMessage());
        RgbImage[][] ok = cells(2, 2, 16, 16);
        assertThrows(IllegalArgumentException.class, () -> XyGrid.render("x", List.of("a"), "y", List.of("c", "d"), ok));
        assertThrows(IllegalArgumentException.class, () -> XyGrid.render("x", List.of("a", "b"), "y", List.of("c"), ok));
        ok[0][1] = null;
        e = assertThrows(IllegalArgumentException.class, () -> XyGrid.render("x", List.of("a", "b"), "y", List.of("c", "d"), ok));
        assertTrue(e.getMessage().contains("cell [0][1]"), e.getMessage());
    }

    @Test
    void longLabelsWrapOrKeepTheirEnds() {
        assertEquals(List.of("every", "saved", "ckpt"), XyGrid.fit("every saved ckpt", 6, 3));
        assertEquals(List.of("abcdef", "gh ij"), XyGrid.fit("abcdefgh ij", 6, 3));
        List<String> cut = XyGrid.fit("my_very_long_checkpoint_name-000004", 8, 2);
        assertEquals(List.of("my_ver..", ".-000004"), cut);
        assertEquals(List.of("a?b c"), XyGrid.fit("  a猫b \n c ", 10, 1));
        assertEquals(List.of(), XyGrid.fit(null, 5, 1));
    }
}
