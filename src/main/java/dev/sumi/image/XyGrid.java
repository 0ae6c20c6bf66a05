package dev.sumi.image;

import dev.sumi.data.RgbImage;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * An X/Y plot like AUTOMATIC1111's (scripts/xyz_grid.py through modules/images.py draw_grid_annotations): equal
 * cells side by side with no gap, each column's label centred above it, each row's label centred in a margin left of
 * it, on white. Besides A1111: an X axis title over the column labels (e.g. "weight") and a Y axis title in the
 * top-left corner above the row labels (e.g. "checkpoint"), drawn with {@link BitmapFont}.
 *
 * <p>Labels are wrapped at spaces (a word longer than a line is broken); a label that still needs more lines than it
 * has (3 above a column, as many as fit beside a row) keeps its start and its end around "..." so that a checkpoint's
 * step suffix stays visible. The margins grow only as far as the labels need: the left margin is as wide as the
 * widest row label, between half and one and a half cell widths (A1111 uses three quarters); nothing is added where
 * there is no label or title.
 */
public final class XyGrid {
    private XyGrid() {}

    private static final int WHITE = 0xffffff, INK = 0x000000;
    private static final int MAX_COLUMN_LABEL_LINES = 3, MAX_TITLE_LINES = 2;

    /**
     * Where things go in the rendered grid: cell (row, col) has its top-left pixel at (cellX(col), cellY(row)).
     *
     * @param scale the labels' font scale
     * @param left  width of the row-label margin
     * @param top   height of the header (X title and column labels)
     */
    public record Layout(int scale, int left, int top, int cellWidth, int cellHeight, int columns, int rows) {
        public int width() {
            return Math.addExact(left, Math.multiplyExact(columns, cellWidth));
        }

        public int height() {
            return Math.addExact(top, Math.multiplyExact(rows, cellHeight));
        }

        public int cellX(int col) {
            return left + col * cellWidth;
        }

        public int cellY(int row) {
            return top + row * cellHeight;
        }
    }

    /** Font scale for labels of cells this size: 1 up to 255 px (w + h < 512), then 1 more per 128 px of side. */
    public static int labelScale(int cellWidth, int cellHeight) {
        return Math.max(1, (cellWidth + cellHeight) / 256);
    }

    /**
     * The grid of {@code cells[row][col]}, all the same size, with {@code columnLabels.size()} columns and
     * {@code rowLabels.size()} rows. Titles and labels may be empty or null (nothing drawn).
     *
     * @throws IllegalArgumentException when counts disagree or a cell is missing or differs in size (naming it)
     */
    public static RgbImage render(String xTitle, List<String> columnLabels, String yTitle, List<String> rowLabels,
            RgbImage[][] cells) {
        if (cells.length == 0 || cells[0] == null || cells[0].length == 0 || cells[0][0] == null)
            throw new IllegalArgumentException("xy grid: no cells (cells[0][0] missing)");
        int cw = cells[0][0].width(), ch = cells[0][0].height();
        if (cells.length != rowLabels.size())
            throw new IllegalArgumentException("xy grid: " + cells.length + " rows of cells, " + rowLabels.size() + " row labels");
        for (int r = 0; r < cells.length; r++) {
            if (cells[r] == null || cells[r].length != columnLabels.size())
                throw new IllegalArgumentException("xy grid: row " + r + " has " + (cells[r] == null ? 0 : cells[r].length)
                        + " cells, " + columnLabels.size() + " column labels");
            for (int c = 0; c < cells[r].length; c++) {
                RgbImage cell = cells[r][c];
                if (cell == null) throw new IllegalArgumentException("xy grid: cell [" + r + "][" + c + "] is missing");
                if (cell.width() != cw || cell.height() != ch)
                    throw new IllegalArgumentException("xy grid: cell [" + r + "][" + c + "] is " + cell.width() + "x"
                            + cell.height() + ", cell [0][0] is " + cw + "x" + ch);
            }
        }
        Plan plan = plan(xTitle, columnLabels, yTitle, rowLabels, cw, ch);
        Layout l = plan.layout();
        byte[] pixels = new byte[Math.multiplyExact(Math.multiplyExact(l.width(), l.height()), 3)]; // (H, W, 3)
        Arrays.fill(pixels, (byte) WHITE);
        RgbImage grid = new RgbImage(l.width(), l.height(), pixels);
        for (int r = 0; r < l.rows(); r++)
            for (int c = 0; c < l.columns(); c++) {
                byte[] cell = cells[r][c].rgb(); // (ch, cw, 3)
                for (int y = 0; y < ch; y++)
                    System.arraycopy(cell, y * cw * 3, pixels, ((l.cellY(r) + y) * l.width() + l.cellX(c)) * 3, cw * 3);
            }
        drawLabels(grid, plan);
        return grid;
    }

    /** The layout {@link #render} uses for these labels and cells of this size. */
    public static Layout layout(String xTitle, List<String> columnLabels, String yTitle, List<String> rowLabels,
            int cellWidth, int cellHeight) {
        return plan(xTitle, columnLabels, yTitle, rowLabels, cellWidth, cellHeight).layout();
    }

    /** The layout with every label already cut into the lines drawn. */
    private record Plan(Layout layout, List<String> xTitle, List<List<String>> columns, List<String> yTitle,
            List<List<String>> rows) {}

    private static Plan plan(String xTitle, List<String> columnLabels, String yTitle, List<String> rowLabels,
            int cellWidth, int cellHeight) {
        if (cellWidth < 1 || cellHeight < 1) throw new IllegalArgumentException("xy grid: cell size " + cellWidth + "x" + cellHeight);
        if (columnLabels.isEmpty() || rowLabels.isEmpty()) throw new IllegalArgumentException("xy grid: no columns or no rows");
        int s = labelScale(cellWidth, cellHeight);
        int pad = 3 * s, line = BitmapFont.lineHeight(s);

        int widestRow = textWidth(yTitle, s);
        for (String label : rowLabels) widestRow = Math.max(widestRow, textWidth(label, s));
        // at least room for a file stem such as "name-000004" (14 characters), even beside small cells
        int left = widestRow == 0 ? 0 : Math.clamp(widestRow + 2L * pad, cellWidth / 2, Math.max(cellWidth * 3 / 2, BitmapFont.textWidth("x".repeat(14), s) + 2 * pad));

        List<List<String>> columns = new ArrayList<>();
        int columnLines = 0;
        for (String label : columnLabels) {
            List<String> lines = fit(label, charsIn(cellWidth - 2 * pad, s), MAX_COLUMN_LABEL_LINES);
            columns.add(lines);
            columnLines = Math.max(columnLines, lines.size());
        }
        List<String> title = fit(xTitle, charsIn(columnLabels.size() * cellWidth - 2 * pad, s), MAX_TITLE_LINES);
        List<String> corner = left == 0 ? List.of() : fit(yTitle, charsIn(left - 2 * pad, s), MAX_TITLE_LINES);
        int rowLines = Math.max(1, (cellHeight - 2 * pad) / line);
        List<List<String>> rows = new ArrayList<>();
        for (String label : rowLabels) rows.add(left == 0 ? List.of() : fit(label, charsIn(left - 2 * pad, s), rowLines));

        int headerLines = Math.max(title.size() + columnLines, corner.size());
        int top = headerLines == 0 ? 0 : 2 * pad + headerLines * line;
        Layout layout = new Layout(s, left, top, cellWidth, cellHeight, columnLabels.size(), rowLabels.size());
        return new Plan(layout, title, columns, corner, rows);
    }

    private static void drawLabels(RgbImage grid, Plan plan) {
        Layout l = plan.layout();
        int s = l.scale(), pad = 3 * s, line = BitmapFont.lineHeight(s);
        int columnsWidth = l.columns() * l.cellWidth();
        drawCentred(grid, plan.xTitle(), l.left(), columnsWidth, pad, s);
        // column labels and the Y title sit on the header's bottom edge, right above the cells
        for (int c = 0; c < l.columns(); c++) {
            List<String> lines = plan.columns().get(c);
            drawCentred(grid, lines, l.cellX(c), l.cellWidth(), l.top() - pad - lines.size() * line, s);
        }
        List<String> corner = plan.yTitle();
        drawCentred(grid, corner, 0, l.left(), l.top() - pad - corner.size() * line, s);
        for (int r = 0; r < l.rows(); r++) {
            List<String> lines = plan.rows().get(r);
            drawCentred(grid, lines, 0, l.left(), l.cellY(r) + (l.cellHeight() - lines.size() * line) / 2, s);
        }
    }

    /** Draws lines top-down from y, each centred in [x, x + width). */
    private static void drawCentred(RgbImage grid, List<String> lines, int x, int width, int y, int s) {
        for (int i = 0; i < lines.size(); i++) {
            String text = lines.get(i);
            BitmapFont.draw(grid, x + (width - BitmapFont.textWidth(text, s)) / 2, y + i * BitmapFont.lineHeight(s), text, s, INK);
        }
    }

    private static int textWidth(String label, int s) {
        return BitmapFont.textWidth(clean(label), s);
    }

    /** How many characters fit in a line of px pixels (at least 1). */
    private static int charsIn(int px, int s) {
        return Math.max(1, (px + s) / (6 * s));
    }

    /** The label as the font draws it: one line, single spaces, anything outside printable ASCII as '?'. */
    static String clean(String label) {
        if (label == null) return "";
        StringBuilder out = new StringBuilder();
        label.strip().codePoints().forEach(cp -> out.append(Character.isWhitespace(cp) ? ' ' : cp >= 32 && cp <= 126 ? (char) cp : '?'));
        return out.toString().replaceAll(" +", " ");
    }

    /**
     * The label wrapped to lines of at most maxChars at spaces (a longer word is broken); when that takes more than
     * maxLines, the label's start and end around "..." cut into maxLines lines instead.
     */
    static List<String> fit(String label, int maxChars, int maxLines) {
        String text = clean(label);
        if (text.isEmpty()) return List.of();
        List<String> lines = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String word : text.split(" ")) {
            while (word.length() > maxChars) {
                if (!current.isEmpty()) lines.add(current.toString());
                current.setLength(0);
                lines.add(word.substring(0, maxChars));
                word = word.substring(maxChars);
            }
            if (word.isEmpty()) continue;
            if (current.isEmpty()) current.append(word);
            else if (current.length() + 1 + word.length() <= maxChars) current.append(' ').append(word);
            else {
                lines.add(current.toString());
                current.setLength(0);
                current.append(word);
            }
        }
        if (!current.isEmpty()) lines.add(current.toString());
        if (lines.size() <= maxLines) return lines;

        int budget = maxLines * maxChars;
        String shortened;
        if (budget < 4) shortened = text.substring(0, budget);
        else {
            int keep = budget - 3;
            shortened = text.substring(0, keep / 2) + "..." + text.substring(text.length() - (keep + 1) / 2);
        }
        List<String> chunks = new ArrayList<>();
        for (int i = 0; i < shortened.length(); i += maxChars)
            chunks.add(shortened.substring(i, Math.min(shortened.length(), i + maxChars)));
        return chunks;
    }
}
