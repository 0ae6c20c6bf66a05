package dev.sumi.image;

import dev.sumi.data.RgbImage;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * AUTOMATIC1111's sequential output names, {@code NNNNN-SEED.png} (modules/images.py save_image with an empty
 * basename and the "[seed]" file pattern): the counter is 1 + the largest counter prefix of any file in the folder
 * (get_next_sequence_number), printed with at least 5 digits.
 */
public final class ImageNames {
    private ImageNames() {}

    /** How many taken names writeNext steps over before giving up (A1111 tries 500). */
    private static final int MAX_ATTEMPTS = 500;

    /**
     * The next counter for {@code dir}, as get_next_sequence_number(dir, ""): for every entry, the part of its name
     * before the extension (Python's splitext: the last '.', ignoring leading dots) and before the first '-', read as
     * an integer (surrounding whitespace and a leading '+' allowed, as Python's int(); digit-group underscores are
     * not); the largest plus one, 0 for a folder without such names or one that does not exist. Counters beyond a long
     * are ignored.
     */
    public static long nextSequenceNumber(Path dir) throws IOException {
        long largest = -1;
        if (!Files.isDirectory(dir)) return 0;
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path entry : entries) {
                Long counter = counterPrefix(entry.getFileName().toString());
                if (counter != null) largest = Math.max(largest, counter);
            }
        }
        return largest + 1;
    }

    /** The file name for a counter and seed: {@code 00042-1234.png}. */
    public static String fileName(long counter, long seed) {
        return baseName(counter, seed) + ".png";
    }

    /**
     * Writes {@code img} with {@code text} as the next {@code NNNNN-SEED.png} in {@code dir} (created if missing),
     * never over an existing file: a name taken meanwhile (another process, a concurrent call) moves on to the next
     * counter.
     *
     * @return the written file
     */
    public static Path writeNext(Path dir, long seed, RgbImage img, Map<String, String> text) throws IOException {
        long counter = nextSequenceNumber(dir);
        for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++, counter++) {
            try {
                return PngFile.writeNew(dir, baseName(counter, seed), img, text);
            } catch (FileAlreadyExistsException e) {
                // taken between the scan and the write; try the next counter
            }
        }
        throw new IOException(dir + ": " + MAX_ATTEMPTS + " output names after " + fileName(counter - MAX_ATTEMPTS, seed)
                + " were all taken");
    }

    private static String baseName(long counter, long seed) {
        if (counter < 0) throw new IllegalArgumentException("image counter " + counter + " is negative");
        return String.format("%05d-%d", counter, seed);
    }

    /** The counter a file name starts with, read as A1111 reads it, or null where Python's int() would fail. */
    static Long counterPrefix(String name) {
        int start = 0;
        while (start < name.length() && name.charAt(start) == '.') start++;
        int dot = name.lastIndexOf('.');
        String stem = dot > start ? name.substring(0, dot) : name;
        int dash = stem.indexOf('-');
        String first = (dash >= 0 ? stem.substring(0, dash) : stem).strip();
        String digits = first.startsWith("+") ? first.substring(1) : first;
        if (digits.isEmpty() || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) return null;
        try {
            return Long.parseLong(digits);
        } catch (NumberFormatException e) {
            return null; // beyond a long
        }
    }
}
