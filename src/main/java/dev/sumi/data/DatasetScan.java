package dev.sumi.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Finds a training folder's images and captions, following kohya sd-scripts (config_util's subsets by subfolder,
 * train_util's DreamBoothDataset):
 * <ul>
 *   <li>a folder with subfolders named {@code <repeats>_<name>} (e.g. {@code 10_sks dog}) is a kohya train_data_dir:
 *       each such subfolder is a subset used repeats times per epoch, {@code <name>} its class tokens; other
 *       subfolders, subfolders with repeats below 1 and images lying in the folder itself are skipped (warned);</li>
 *   <li>otherwise the folder itself is one subset with the caller's repeats and no class tokens;</li>
 *   <li>images: files directly in a subset folder ending in .png, .jpg, .jpeg, .webp or .bmp (any case), hidden
 *       files skipped, sorted by name;</li>
 *   <li>caption: the file with the image's name and the caption extension ({@code a.png} -> {@code a.txt}); without
 *       one the class tokens, else "" (warned as missing, as kohya does).</li>
 * </ul>
 */
public final class DatasetScan {
    private DatasetScan() {}

    private static final List<String> DEFAULT_CAPTION_EXTENSIONS = List.of(".txt", ".caption");
    /** Image formats people keep in datasets that sumi (like kohya without plugins) does not read. */
    private static final Set<String> SKIPPED_IMAGE_EXTENSIONS = Set.of(".gif", ".tif", ".tiff", ".avif", ".jxl", ".heic");

    /**
     * Scans a folder.
     *
     * @param defaultRepeats repeats for a plain folder of images (kohya folders carry their own)
     */
    public static Dataset scan(Path root, int defaultRepeats, CaptionOptions captions) {
        if (!Files.isDirectory(root)) throw new DataException(root + ": not a folder (the training images folder)");
        if (defaultRepeats < 1) throw new DataException("repeats " + defaultRepeats + ": must be 1 or more");
        List<Dataset.Problem> problems = new ArrayList<>();
        List<Path> subdirs = new ArrayList<>(), rootImages = new ArrayList<>();
        for (Path p : list(root)) {
            if (Files.isDirectory(p)) subdirs.add(p);
            else if (ImageFiles.isImageName(p.getFileName().toString())) rootImages.add(p);
        }
        List<Path> kohyaDirs = new ArrayList<>();
        for (Path dir : subdirs) if (repeatsOf(dir) != null) kohyaDirs.add(dir);

        List<Dataset.Subset> subsets = new ArrayList<>();
        if (kohyaDirs.isEmpty()) {
            for (Path dir : subdirs)
                if (containsImages(dir))
                    problems.add(warn(dir + ": subfolder skipped: its name does not start with <repeats>_ (e.g. 10_"
                            + dir.getFileName() + ")"));
            subsets.add(subset(root, defaultRepeats, null, captions, problems));
        } else {
            if (!rootImages.isEmpty())
                problems.add(warn(root + ": " + rootImages.size() + " image(s) lying in the folder itself are skipped: "
                        + "with <repeats>_<name> subfolders only those are read: " + Dataset.listFiles(rootImages)));
            for (Path dir : subdirs) {
                Integer repeats = repeatsOf(dir);
                String name = dir.getFileName().toString();
                if (repeats == null) problems.add(warn(dir + ": subfolder skipped: its name does not start with <repeats>_"));
                else if (repeats < 1) problems.add(warn(dir + ": subfolder skipped: repeats " + repeats + " is below 1"));
                else subsets.add(subset(dir, repeats, name.substring(name.indexOf('_') + 1), captions, problems));
            }
        }
        List<Dataset.Subset> nonEmpty = new ArrayList<>();
        for (Dataset.Subset s : subsets) {
            if (s.images().isEmpty()) problems.add(warn(s.dir() + ": no images (png, jpg, jpeg, webp, bmp) in this folder"));
            else nonEmpty.add(s);
        }
        if (nonEmpty.isEmpty()) problems.add(new Dataset.Problem(true, root + ": no training images found"));
        return new Dataset(root, List.copyOf(nonEmpty), captions, List.copyOf(problems));
    }

    /** kohya's extract_dreambooth_params: the integer before the first '_', or null when there is none. */
    static Integer repeatsOf(Path dir) {
        String name = dir.getFileName().toString();
        int underscore = name.indexOf('_');
        String head = underscore < 0 ? name : name.substring(0, underscore);
        if (underscore < 0 || !head.matches("[+-]?[0-9]{1,9}")) return null;
        return Integer.parseInt(head);
    }

    private static Dataset.Subset subset(Path dir, int repeats, String classTokens, CaptionOptions captions,
                                         List<Dataset.Problem> problems) {
        List<Dataset.Image> images = new ArrayList<>();
        for (Path file : list(dir)) {
            String name = file.getFileName().toString();
            if (Files.isDirectory(file)) continue;
            if (!ImageFiles.isImageName(name)) {
                String lower = name.toLowerCase(Locale.ROOT);
                int dot = lower.lastIndexOf('.');
                if (dot >= 0 && SKIPPED_IMAGE_EXTENSIONS.contains(lower.substring(dot)))
                    problems.add(warn(file + ": skipped: sumi reads png, jpg, jpeg, webp and bmp; convert it to png"));
                continue;
            }
            Path captionFile = captionFileOf(file, captions);
            String caption;
            if (captionFile != null) {
                try {
                    caption = Captions.read(captionFile);
                } catch (DataException e) {
                    problems.add(new Dataset.Problem(true, e.getMessage()));
                    caption = "";
                }
            } else {
                caption = classTokens == null ? "" : classTokens;
            }
            images.add(new Dataset.Image(file, captionFile, caption));
        }
        return new Dataset.Subset(dir, repeats, classTokens, List.copyOf(images));
    }

    /** The caption file beside an image, or null. */
    static Path captionFileOf(Path image, CaptionOptions captions) {
        String name = image.getFileName().toString();
        String stem = name.substring(0, name.lastIndexOf('.'));
        List<String> extensions = captions.extension() == null ? DEFAULT_CAPTION_EXTENSIONS : List.of(captions.extension());
        for (String ext : extensions) {
            Path candidate = image.resolveSibling(stem + ext);
            if (Files.isRegularFile(candidate)) return candidate;
        }
        return null;
    }

    private static boolean containsImages(Path dir) {
        for (Path p : list(dir)) if (!Files.isDirectory(p) && ImageFiles.isImageName(p.getFileName().toString())) return true;
        return false;
    }

    /** A folder's entries, hidden ones left out (as Python's glob does), sorted by name. */
    private static List<Path> list(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList();
        } catch (IOException e) {
            throw new DataException(dir + ": cannot list the folder (" + e.getMessage() + ")");
        }
    }

    private static Dataset.Problem warn(String message) {
        return new Dataset.Problem(false, message);
    }
}
