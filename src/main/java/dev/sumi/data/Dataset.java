package dev.sumi.data;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A scanned training folder: its subsets (kohya's DreamBooth subsets), each image with its raw caption, and the
 * problems the scan met (checked and printed by {@link DatasetCheck}).
 *
 * @param problems caption files that could not be read, folders or files that were skipped
 */
public record Dataset(Path root, List<Subset> subsets, CaptionOptions captions, List<Problem> problems) {

    /**
     * One image.
     *
     * @param captionFile the caption file used, null when there was none
     * @param caption     the raw caption: the file's first line, else the folder's class tokens, else ""
     */
    public record Image(Path file, Path captionFile, String caption) {
        public boolean hasCaptionFile() {
            return captionFile != null;
        }
    }

    /**
     * One folder of images, used repeats times per epoch.
     *
     * @param classTokens the folder name after "&lt;repeats&gt;_" (kohya's class tokens), null for a plain folder
     */
    public record Subset(Path dir, int repeats, String classTokens, List<Image> images) {
        /** The folder's name, the key kohya uses in ss_tag_frequency and ss_dataset_dirs. */
        public String name() {
            return dir.getFileName().toString();
        }
    }

    /** Something the scan or check found: fatal errors stop training, warnings are printed. */
    public record Problem(boolean fatal, String message) {
        @Override
        public String toString() {
            return (fatal ? "error: " : "warning: ") + message;
        }
    }

    public int imageCount() {
        int n = 0;
        for (Subset s : subsets) n += s.images().size();
        return n;
    }

    /** Images times repeats: kohya's "train images with repeats". */
    public int imagesWithRepeats() {
        int n = 0;
        for (Subset s : subsets) n += s.images().size() * s.repeats();
        return n;
    }

    /** kohya's ss_tag_frequency: {folder name: {tag: count}} over each image's raw caption (no prefix). */
    public Map<String, Map<String, Integer>> tagFrequency() {
        Map<String, Map<String, Integer>> out = new LinkedHashMap<>();
        for (Subset s : subsets) {
            Map<String, Integer> counts = out.computeIfAbsent(s.name(), k -> new LinkedHashMap<>());
            for (Image image : s.images()) Captions.countTags(counts, image.caption());
        }
        return out;
    }

    /** kohya's ss_dataset_dirs: {folder name: {"n_repeats": r, "img_count": n}}. */
    public Map<String, Map<String, Integer>> datasetDirs() {
        Map<String, Map<String, Integer>> out = new LinkedHashMap<>();
        for (Subset s : subsets) {
            Map<String, Integer> info = new LinkedHashMap<>();
            info.put("n_repeats", s.repeats());
            info.put("img_count", s.images().size());
            out.put(s.name(), info);
        }
        return out;
    }

    /** Up to five paths, then how many more (kohya lists five missing captions the same way). */
    static String listFiles(List<Path> files) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(5, files.size()); i++) sb.append(i == 0 ? "" : ", ").append(files.get(i));
        if (files.size() > 5) sb.append(" ... and ").append(files.size() - 5).append(" more");
        return sb.toString();
    }
}
