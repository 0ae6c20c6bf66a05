package dev.sumi.demo;

import dev.sumi.util.AtomicFiles;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.Polygon;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

/**
 * The demo's dataset, drawn rather than downloaded: coloured shapes on pale backgrounds with captions
 * naming them, in kohya's folder convention ({@code <repeats>_<name>/img.png + img.txt}). The images
 * share one concept (the "sumi style" trigger and its ink-coloured border) so a LoRA has something to
 * learn, and vary in size and aspect so the resize-and-crop path runs as it does for a user's photos.
 */
public final class DemoDataset {
    private DemoDataset() {}

    public static final String TRIGGER = "sumi style";

    private record Paint(String name, Color color) {}

    private static final List<Paint> COLOURS = List.of(
            new Paint("red", new Color(200, 30, 40)), new Paint("blue", new Color(30, 60, 190)),
            new Paint("green", new Color(40, 150, 60)), new Paint("yellow", new Color(230, 200, 30)));
    private static final List<String> SHAPES = List.of("circle", "square", "triangle", "diamond");

    /**
     * Writes {@code count} captioned images into {@code dir/<repeats>_sumi/} and returns that folder.
     * Existing files are not replaced (the same seed writes the same files, so a rerun finds them).
     */
    public static Path write(Path dir, int count, int repeats, long seed) {
        Path folder = dir.resolve(repeats + "_sumi");
        try {
            Files.createDirectories(folder);
            Random rng = new Random(seed);
            for (int i = 0; i < count; i++) {
                Paint paint = COLOURS.get(i % COLOURS.size());
                String shape = SHAPES.get((i / COLOURS.size() + i) % SHAPES.size());
                int width = 64 + 16 * rng.nextInt(3), height = 64 + 16 * rng.nextInt(3);
                BufferedImage image = draw(width, height, paint.color(), shape, rng);
                String stem = String.format("img_%02d", i);
                Path png = folder.resolve(stem + ".png"), txt = folder.resolve(stem + ".txt");
                if (!Files.exists(png)) AtomicFiles.write(png, encodePng(image), false);
                if (!Files.exists(txt)) AtomicFiles.writeString(txt, "a " + paint.name() + " " + shape + " on a pale background, ink border", false);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("demo: cannot write the dataset in " + folder + ": " + e.getMessage(), e);
        }
        return folder;
    }

    static BufferedImage draw(int width, int height, Color fill, String shape, Random rng) {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            int shade = 225 + rng.nextInt(25);
            g.setColor(new Color(shade, shade - 5, shade - 15));
            g.fillRect(0, 0, width, height);
            g.setColor(new Color(25, 20, 30));   // the concept: a thick ink border around every picture
            int border = Math.max(3, Math.min(width, height) / 12);
            for (int k = 0; k < border; k++) g.drawRect(k, k, width - 1 - 2 * k, height - 1 - 2 * k);
            int size = Math.min(width, height) / 2 + rng.nextInt(Math.min(width, height) / 6);
            int cx = width / 2 + rng.nextInt(9) - 4, cy = height / 2 + rng.nextInt(9) - 4, r = size / 2;
            g.setColor(fill);
            switch (shape) {
                case "circle" -> g.fillOval(cx - r, cy - r, size, size);
                case "square" -> g.fillRect(cx - r, cy - r, size, size);
                case "triangle" -> g.fillPolygon(new Polygon(new int[] {cx, cx + r, cx - r}, new int[] {cy - r, cy + r, cy + r}, 3));
                case "diamond" -> g.fillPolygon(new Polygon(new int[] {cx, cx + r, cx, cx - r}, new int[] {cy - r, cy, cy + r, cy}, 4));
                default -> throw new IllegalArgumentException("demo: unknown shape " + shape);
            }
        } finally {
            g.dispose();
        }
        return image;
    }

    private static byte[] encodePng(BufferedImage image) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        if (!ImageIO.write(image, "png", bytes)) throw new IOException("no PNG writer in this Java runtime");
        return bytes.toByteArray();
    }
}
