package dev.sumi.data;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * The check run before training: every image decoded once. Errors (training cannot start): unreadable or corrupt
 * images, unreadable caption files, an image too small for a no_upscale bucket, no images at all. Warnings: images
 * whose short side is under half the resolution's short side (they are upscaled a lot), duplicates (same bytes or
 * same decoded pixels), images without a caption file, and whatever the scan skipped.
 */
public final class DatasetCheck {
    private DatasetCheck() {}

    /** The result: printable, one problem a line. */
    public record Report(int images, int imagesWithRepeats, List<Dataset.Problem> errors, List<Dataset.Problem> warnings) {
        public boolean ok() {
            return errors.isEmpty();
        }

        @Override
        public String toString() {
            StringBuilder sb = new StringBuilder();
            sb.append("dataset: ").append(images).append(" images, ").append(imagesWithRepeats)
                    .append(" with repeats; ").append(errors.size()).append(" error(s), ").append(warnings.size())
                    .append(" warning(s)\n");
            for (Dataset.Problem p : errors) sb.append("  ").append(p).append('\n');
            for (Dataset.Problem p : warnings) sb.append("  ").append(p).append('\n');
            return sb.toString();
        }
    }

    /** What one image looked like when decoded; reason is non-null when it could not be. */
    private record Seen(Path file, String bytesHash, String pixelsHash, int width, int height, String reason) {}

    public static Report run(Dataset dataset, BucketOptions options) {
        Buckets buckets = new Buckets(options);
        List<Dataset.Problem> problems = new ArrayList<>(dataset.problems());
        List<Path> files = new ArrayList<>();
        for (Dataset.Subset s : dataset.subsets()) for (Dataset.Image image : s.images()) files.add(image.file());
        // images decode independently: spread them over the cores, keep the order for the report
        List<Seen> seen = IntStream.range(0, files.size()).parallel().mapToObj(i -> look(files.get(i))).toList();

        int minSide = (Math.min(options.width(), options.height()) + 1) / 2;
        Map<String, List<Path>> byBytes = new LinkedHashMap<>(), byPixels = new LinkedHashMap<>();
        for (Seen s : seen) {
            if (s.reason() != null) {
                problems.add(new Dataset.Problem(true, s.reason()));
                continue;
            }
            if (Math.min(s.width(), s.height()) < minSide)
                problems.add(new Dataset.Problem(false, s.file() + ": small image (" + s.width() + "x" + s.height()
                        + ", short side under " + minSide + " = half the resolution): it is upscaled and will look soft"));
            try {
                buckets.select(s.width(), s.height());
            } catch (DataException e) {
                problems.add(new Dataset.Problem(true, s.file() + ": " + e.getMessage()));
            }
            byBytes.computeIfAbsent(s.bytesHash(), k -> new ArrayList<>()).add(s.file());
            byPixels.computeIfAbsent(s.pixelsHash(), k -> new ArrayList<>()).add(s.file());
        }
        for (List<Path> same : byBytes.values())
            if (same.size() > 1) problems.add(new Dataset.Problem(false, "duplicate files (same bytes): " + Dataset.listFiles(same)));
        for (List<Path> same : byPixels.values()) {
            if (same.size() < 2) continue;
            boolean allSameBytes = byBytes.values().stream().anyMatch(b -> b.containsAll(same));
            if (!allSameBytes) problems.add(new Dataset.Problem(false, "duplicate images (same pixels): " + Dataset.listFiles(same)));
        }
        for (Dataset.Subset s : dataset.subsets()) {
            List<Path> missing = new ArrayList<>();
            for (Dataset.Image image : s.images()) if (!image.hasCaptionFile()) missing.add(image.file());
            if (missing.isEmpty()) continue;
            String uses = s.classTokens() == null || s.classTokens().isEmpty()
                    ? "they train with an empty caption" : "they use the folder's class tokens '" + s.classTokens() + "'";
            problems.add(new Dataset.Problem(false, s.dir() + ": " + missing.size() + " image(s) without a caption file ("
                    + uses + "): " + Dataset.listFiles(missing)));
        }
        List<Dataset.Problem> errors = new ArrayList<>(), warnings = new ArrayList<>();
        for (Dataset.Problem p : problems) (p.fatal() ? errors : warnings).add(p);
        return new Report(dataset.imageCount(), dataset.imagesWithRepeats(), List.copyOf(errors), List.copyOf(warnings));
    }

    private static Seen look(Path file) {
        try {
            byte[] bytes = ImageFiles.readBytes(file);
            RgbImage image = ImageFiles.decode(file, bytes);
            MessageDigest pixels = sha256();
            pixels.update(ByteBuffer.allocate(8).putInt(image.width()).putInt(image.height()).array());
            pixels.update(image.rgb());
            HexFormat hex = HexFormat.of();
            return new Seen(file, hex.formatHex(sha256().digest(bytes)), hex.formatHex(pixels.digest()),
                    image.width(), image.height(), null);
        } catch (DataException e) {
            return new Seen(file, null, null, 0, 0, e.getMessage());
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
