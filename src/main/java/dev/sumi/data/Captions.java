package dev.sumi.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Caption files and caption text, as kohya's DreamBoothDataset reads and processes them. */
public final class Captions {
    private Captions() {}

    /**
     * A caption file's text: its first line, stripped (kohya reads lines[0].strip()). A file that is empty or not
     * UTF-8 is an error, as in kohya.
     */
    public static String read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new DataException(file + ": cannot read the caption file (" + e.getMessage() + ")");
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new DataException(file + ": caption file is not UTF-8 text");
        }
        if (text.startsWith("\uFEFF")) text = text.substring(1);            // a byte-order mark is not caption text
        if (text.isEmpty()) throw new DataException(file + ": caption file is empty");
        return text.lines().findFirst().orElse("").strip();
    }

    /**
     * The text for one use of a caption: prefix and suffix joined with spaces, then with shuffle the comma-separated
     * tags (stripped) shuffled after the first keepTokens and joined with ", " (kohya's process_caption without
     * dropout, wildcards or warmup).
     */
    public static String process(String caption, CaptionOptions options, Random rng) {
        String text = caption;
        if (options.prefix() != null && !options.prefix().isEmpty()) text = options.prefix() + " " + text;
        if (options.suffix() != null && !options.suffix().isEmpty()) text = text + " " + options.suffix();
        if (!options.shuffle()) return text;
        List<String> tags = new ArrayList<>();
        for (String t : text.strip().split(",", -1)) tags.add(t.strip());
        int keep = Math.min(options.keepTokens(), tags.size());
        List<String> flexible = new ArrayList<>(tags.subList(keep, tags.size()));
        Collections.shuffle(flexible, rng);
        List<String> joined = new ArrayList<>(tags.subList(0, keep));
        joined.addAll(flexible);
        return String.join(", ", joined);
    }

    /** Adds a folder's captions to kohya's ss_tag_frequency counts: tags split on ',', stripped, lowercased. */
    static void countTags(Map<String, Integer> counts, String caption) {
        for (String tag : caption.split(",")) {
            String t = tag.strip();
            if (!t.isEmpty()) counts.merge(t.toLowerCase(java.util.Locale.ROOT), 1, Integer::sum);
        }
    }
}
