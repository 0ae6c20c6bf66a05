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
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CHARACTER_CLASS);

    private static final Pattern WHITESPACE = Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);

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

    /**
     * The 256 byte characters in vocabulary order: OpenAI lists the printable bytes first
     * ('!'..'~', '¡'..'¬', '®'..'ÿ'), then the rest in byte order, so "!" is token 0 and "a</w>" is 320.
     */
    public static char[] vocabularyOrder() {
        char[] table = byteToUnicode();
        char[] order = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++) if (table[b] == (char) b) order[n++] = table[b];
        for (int b = 0; b < 256; b++) if (table[b] != (char) b) order[n++] = table[b];
        return order;
    }

    /**
     * NFC-normalises, collapses Unicode whitespace and lower-cases, as CLIP's basic and whitespace
     * cleaning do (ftfy's mojibake repair aside; for well-formed text it amounts to NFC).
     */
    public static String clean(String text) {
        String nfc = java.text.Normalizer.normalize(text, java.text.Normalizer.Form.NFC);
        return WHITESPACE.matcher(nfc).replaceAll(" ").strip().toLowerCase(Locale.ROOT);
    }

    private static final Pattern ENTITY = Pattern.compile("&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|amp|lt|gt|quot|apos|nbsp);");

    /** Python's html.unescape for numeric references and the entities prompts meet (&amp; &lt; &gt; &quot; &apos; &nbsp;). */
    public static String unescapeHtml(String text) {
        if (text.indexOf('&') < 0) return text;
        Matcher m = ENTITY.matcher(text);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            String e = m.group(1);
            String r = switch (e) {
                case "amp" -> "&";
                case "lt" -> "<";
                case "gt" -> ">";
                case "quot" -> "\"";
                case "apos" -> "'";
                case "nbsp" -> "\u00a0";
                default -> {
                    int cp = e.charAt(1) == 'x' || e.charAt(1) == 'X' ? Integer.parseInt(e.substring(2), 16) : Integer.parseInt(e.substring(1));
                    yield Character.isValidCodePoint(cp) && cp != 0 ? new String(Character.toChars(cp)) : "\ufffd";
                }
            };
            m.appendReplacement(sb, Matcher.quoteReplacement(r));
        }
        m.appendTail(sb);
        return sb.toString();
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
