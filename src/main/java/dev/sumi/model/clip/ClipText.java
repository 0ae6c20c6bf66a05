package dev.sumi.model.clip;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The text conventions of OpenAI's CLIP BPE that tokenizers and tokenizer builders share: the
 * byte-to-unicode table (every byte gets a printable character, so merges never see raw control
 * bytes), the pre-tokenising regex, and the end-of-word marker.
 */
public final class ClipText {
    private ClipText() {}

    public static final String END_OF_WORD = "</w>";
    public static final String START_OF_TEXT = "<|startoftext|>";
    public static final String END_OF_TEXT = "<|endoftext|>";

    /** CLIP's pre-split: special tokens, English contractions, letter runs, single digits, other symbol runs. */
    public static final Pattern PRE_SPLIT = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE);

    /** byte (0..255) -> the character that stands for it: printable Latin-1 maps to itself, the rest to 256 + n. */
    public static char[] byteToUnicode() {
        char[] table = new char[256];
        boolean[] printable = new boolean[256];
        for (int b = '!'; b <= '~'; b++) printable[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) printable[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) printable[b] = true;
        int next = 0;
        for (int b = 0; b < 256; b++) table[b] = printable[b] ? (char) b : (char) (256 + next++);
        return table;
    }

    /** Lower-cases and collapses whitespace, as CLIP's basic and whitespace cleaning do (ftfy aside). */
    public static String clean(String text) {
        return text.replaceAll("\\s+", " ").trim().toLowerCase(Locale.ROOT);
    }

    /** The words of {@code text} after cleaning and the pre-split, each as its byte characters. */
    public static List<String> words(String text) {
        char[] table = byteToUnicode();
        List<String> out = new ArrayList<>();
        Matcher m = PRE_SPLIT.matcher(clean(text));
        while (m.find()) {
            byte[] bytes = m.group().getBytes(java.nio.charset.StandardCharsets.UTF_8);
            StringBuilder sb = new StringBuilder(bytes.length);
            for (byte b : bytes) sb.append(table[b & 0xff]);
            out.add(sb.toString());
        }
        return out;
    }
}
