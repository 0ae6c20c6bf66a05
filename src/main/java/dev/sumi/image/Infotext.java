package dev.sumi.image;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The generation parameters AUTOMATIC1111 stores in an image's "parameters" text (its "infotext"), written as
 * modules/processing.py create_infotext writes them and read back as modules/infotext_utils.py
 * parse_generation_parameters reads them:
 *
 * <pre>
 * prompt (may span lines)
 * Negative prompt: negative prompt          (only when not empty)
 * Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model hash: 0123456789, Model: name,
 *     Clip skip: 2, extra: value, ..., Version: v          (one line)
 * </pre>
 *
 * A value holding ',', ':' or a newline is written as a JSON string (A1111's quote(): json.dumps with
 * ensure_ascii=False); a value holding only '"' is written bare, as A1111 does. Numbers print as Python prints them,
 * except that an integral CFG scale prints without ".0" (what A1111's UI writes: "CFG scale: 7"). Entries whose
 * value is absent are left out: the model hash, model name and version when null, Clip skip when 1.
 *
 * @param prompt         the positive prompt
 * @param negativePrompt the negative prompt, "" when none (null is taken as "")
 * @param steps          sampling steps
 * @param sampler        the sampler as A1111 names it: "Euler a", "Euler", "DDIM", "DPM++ 2M Karras"
 * @param cfgScale       classifier-free guidance scale
 * @param seed           the image's seed
 * @param width          image width in pixels
 * @param height         image height in pixels
 * @param modelHash      A1111's short model hash (10 hex digits of the file's SHA-256), or null
 * @param modelName      the checkpoint's name (file name without extension), or null
 * @param clipSkip       CLIP layers skipped from the end, counted as A1111 counts them (1 = last layer; written when > 1)
 * @param extras         further entries in order, after Clip skip and before Version (e.g. "Lora hashes"); keys are
 *                       A1111 labels (a word character, then word characters, spaces, '-' or '/'), values not empty
 * @param version        the program version, or null
 */
public record Infotext(String prompt, String negativePrompt, int steps, String sampler, double cfgScale, long seed,
        int width, int height, String modelHash, String modelName, int clipSkip, Map<String, String> extras,
        String version) {

    /** A1111's re_param: one "key: value" entry of the parameter line, the value either a JSON string or up to ','. */
    private static final Pattern PARAM =
            Pattern.compile("\\s*(\\w[\\w \\-/]+):\\s*(\"(?:\\\\.|[^\\\\\"])+\"|[^,]*)(?:,|$)", Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern KEY = Pattern.compile("\\w[\\w \\-/]+", Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern IMAGE_SIZE = Pattern.compile("^(\\d+)x(\\d+)$");
    private static final String NEGATIVE_PREFIX = "Negative prompt:";
    /** Labels this record writes itself (and "Prompt"/"Negative prompt", which A1111's parser keeps for the prompts). */
    private static final Set<String> OWN_KEYS = Set.of("Steps", "Sampler", "CFG scale", "Seed", "Size", "Model hash",
            "Model", "Clip skip", "Version", "Prompt", "Negative prompt");

    public Infotext {
        if (prompt == null) throw new IllegalArgumentException("infotext: prompt is null");
        if (negativePrompt == null) negativePrompt = "";
        if (steps < 1) throw new IllegalArgumentException("infotext: steps " + steps + " < 1");
        if (sampler == null || sampler.isBlank()) throw new IllegalArgumentException("infotext: no sampler name");
        if (!Double.isFinite(cfgScale)) throw new IllegalArgumentException("infotext: CFG scale " + cfgScale + " is not finite");
        if (width < 1 || height < 1) throw new IllegalArgumentException("infotext: size " + width + "x" + height);
        if (clipSkip < 1) throw new IllegalArgumentException("infotext: clip skip " + clipSkip + " < 1");
        modelHash = emptyToNull(modelHash);
        modelName = emptyToNull(modelName);
        version = emptyToNull(version);
        LinkedHashMap<String, String> copy = new LinkedHashMap<>();
        if (extras != null)
            for (Map.Entry<String, String> e : extras.entrySet()) {
                String key = e.getKey();
                if (key == null || !KEY.matcher(key).matches())
                    throw new IllegalArgumentException("infotext: extra key '" + key
                            + "' is not an A1111 label (a word character, then word characters, spaces, '-' or '/')");
                if (OWN_KEYS.contains(key))
                    throw new IllegalArgumentException("infotext: extra key '" + key + "' is a field of the record");
                if (e.getValue() == null || e.getValue().isEmpty())
                    throw new IllegalArgumentException("infotext: extra '" + key + "' has no value (A1111 cannot read it back)");
                copy.put(key, e.getValue());
            }
        extras = Collections.unmodifiableMap(copy);
    }

    /** The infotext, byte for byte as A1111's create_infotext would write these parameters. */
    public String text() {
        LinkedHashMap<String, String> params = new LinkedHashMap<>();
        params.put("Steps", Integer.toString(steps));
        params.put("Sampler", sampler);
        params.put("CFG scale", formatNumber(cfgScale));
        params.put("Seed", Long.toString(seed));
        params.put("Size", width + "x" + height);
        if (modelHash != null) params.put("Model hash", modelHash);
        if (modelName != null) params.put("Model", modelName);
        if (clipSkip > 1) params.put("Clip skip", Integer.toString(clipSkip));
        params.putAll(extras);
        if (version != null) params.put("Version", version);
        List<String> entries = new ArrayList<>();
        // create_infotext writes an entry whose value equals its key as the bare key
        params.forEach((k, v) -> entries.add(k.equals(v) ? k : k + ": " + quote(v)));
        String negative = negativePrompt.isEmpty() ? "" : "\n" + NEGATIVE_PREFIX + " " + negativePrompt;
        return (prompt + negative + "\n" + String.join(", ", entries)).strip();
    }

    /**
     * Reads an infotext as parse_generation_parameters does: the last line is the parameter line when it holds at
     * least 3 entries; lines before it up to one starting with "Negative prompt:" are the prompt, the rest the negative
     * prompt (each line stripped, joined by newlines); quoted values are JSON-decoded; a missing Clip skip is 1. Every
     * entry other than this record's own goes to {@link #extras()} in order, its value kept whole (A1111 also splits
     * any "WxH" value into "key-1" and "key-2"; here only Size is split).
     *
     * @throws IllegalArgumentException when Steps, Sampler, CFG scale, Seed or Size is missing or malformed
     */
    public static Infotext parse(String infotext) {
        String[] all = infotext.strip().split("\n", -1);
        List<String> lines = new ArrayList<>(List.of(all).subList(0, all.length - 1));
        String paramLine = all[all.length - 1];
        if (PARAM.matcher(paramLine).results().count() < 3) {
            lines.add(paramLine);
            paramLine = "";
        }
        StringBuilder prompt = new StringBuilder(), negative = new StringBuilder();
        boolean inNegative = false;
        for (String raw : lines) {
            String line = raw.strip();
            if (line.startsWith(NEGATIVE_PREFIX)) {
                inNegative = true;
                line = line.substring(NEGATIVE_PREFIX.length()).strip();
            }
            StringBuilder target = inNegative ? negative : prompt;
            if (!target.isEmpty()) target.append('\n');
            target.append(line);
        }
        LinkedHashMap<String, String> params = new LinkedHashMap<>();
        Matcher m = PARAM.matcher(paramLine);
        while (m.find()) {
            String value = m.group(2);
            if (value.isEmpty()) continue; // A1111's parser fails on v[0] and skips the entry
            if (value.charAt(0) == '"' && value.charAt(value.length() - 1) == '"') value = unquote(value);
            params.put(m.group(1), value);
        }
        Matcher size = IMAGE_SIZE.matcher(required(params, "Size"));
        if (!size.matches()) throw new IllegalArgumentException("infotext: Size '" + params.get("Size") + "' is not WxH");
        LinkedHashMap<String, String> extras = new LinkedHashMap<>(params);
        extras.keySet().removeAll(OWN_KEYS);
        int steps = (int) integer("Steps", required(params, "Steps"), Integer.MAX_VALUE);
        double cfgScale = number("CFG scale", required(params, "CFG scale"));
        long seed = integer("Seed", required(params, "Seed"), Long.MAX_VALUE);
        int width = (int) integer("Size", size.group(1), Integer.MAX_VALUE);
        int height = (int) integer("Size", size.group(2), Integer.MAX_VALUE);
        int clipSkip = (int) integer("Clip skip", params.getOrDefault("Clip skip", "1"), Integer.MAX_VALUE);
        return new Infotext(prompt.toString(), negative.toString(), steps, required(params, "Sampler"), cfgScale, seed,
                width, height, params.get("Model hash"), params.get("Model"), clipSkip,
                extras, params.get("Version"));
    }

    private static String emptyToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    private static String required(Map<String, String> params, String key) {
        String v = params.get(key);
        if (v == null) throw new IllegalArgumentException("infotext: no '" + key + "' entry in the parameter line");
        return v;
    }

    private static long integer(String key, String v, long max) {
        try {
            long n = Long.parseLong(v.strip());
            if (n > max || n < -max - 1) throw new NumberFormatException();
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("infotext: " + key + " '" + v + "' is not an integer in range");
        }
    }

    private static double number(String key, String v) {
        try {
            return Double.parseDouble(v.strip());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("infotext: " + key + " '" + v + "' is not a number");
        }
    }

    /** Integral values without a fraction ("7"), others as Python's repr in plain notation ("7.5", "0.1"). */
    static String formatNumber(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        // Double.toString gives the shortest digits that round-trip, as Python's repr does
        return new BigDecimal(Double.toString(v)).stripTrailingZeros().toPlainString();
    }

    /** A1111's quote(): a value with ',', ':' or a newline becomes json.dumps(value, ensure_ascii=False). */
    static String quote(String v) {
        if (v.indexOf(',') < 0 && v.indexOf('\n') < 0 && v.indexOf(':') < 0) return v;
        StringBuilder out = new StringBuilder(v.length() + 8).append('"');
        for (int i = 0; i < v.length(); i++) {
            char c = v.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
                }
            }
        }
        return out.append('"').toString();
    }

    /** A1111's unquote(): json.loads of a "..." value, or the value unchanged when it is not a valid JSON string. */
    static String unquote(String v) {
        if (v.length() < 2 || v.charAt(0) != '"' || v.charAt(v.length() - 1) != '"') return v;
        StringBuilder out = new StringBuilder(v.length());
        int end = v.length() - 1;
        for (int i = 1; i < end; i++) {
            char c = v.charAt(i);
            if (c == '"' || c < 0x20) return v; // json.loads: extra data / control character in a strict string
            if (c != '\\') {
                out.append(c);
                continue;
            }
            if (++i >= end) return v;
            switch (v.charAt(i)) {
                case '"' -> out.append('"');
                case '\\' -> out.append('\\');
                case '/' -> out.append('/');
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'n' -> out.append('\n');
                case 'r' -> out.append('\r');
                case 't' -> out.append('\t');
                case 'u' -> {
                    if (i + 5 > end) return v;
                    String hex = v.substring(i + 1, i + 5);
                    if (!hex.chars().allMatch(h -> Character.digit(h, 16) >= 0)) return v;
                    out.append((char) Integer.parseInt(hex, 16));
                    i += 4;
                }
                default -> {
                    return v;
                }
            }
        }
        return out.toString();
    }
}
