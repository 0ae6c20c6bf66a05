package dev.sumi.lora;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The LoRA tags of a prompt, read as AUTOMATIC1111 reads them ({@code modules/extra_networks.py parse_prompt},
 * {@code extensions-builtin/Lora/extra_networks_lora.py activate}):
 * <ul>
 *   <li>every {@code <TYPE:ARGS>} (TYPE word characters, ARGS anything but '>') is cut out of the prompt, LoRA or
 *       not; {@code lora} and its alias {@code lyco} are LoRAs, other types (hypernet, unknown) are listed as ignored;</li>
 *   <li>ARGS split at ':'; an item {@code key=value} (exactly one '=') is named, others positional;</li>
 *   <li>NAME is the first positional item, as written; te = positional 2 (else 1), then named {@code te=};
 *       unet = positional 3 (else te), then named {@code unet=}; {@code dyn} (and positional 4) is ignored;</li>
 *   <li>a NAME given by several tags is loaded once and listed once per tag, every time with the LAST tag's
 *       multipliers (A1111 keeps one network object per name and overwrites its multipliers): two tags of a
 *       LoRA apply it twice at the last strengths.</li>
 * </ul>
 * Only the positive prompt is read: A1111 parses no tags in the negative prompt (they stay text and are tokenised).
 */
public final class PromptLoras {
    private PromptLoras() {}

    /** One LoRA tag. */
    public record Reference(String name, float textEncoderMultiplier, float unetMultiplier) {}

    /** The prompt without its tags, the LoRA references in tag order, and the tags of other types (ignored). */
    public record Parsed(String prompt, List<Reference> loras, List<String> ignoredTags) {}

    // re.compile(r"<(\w+):([^>]+)>"), \w Unicode-aware as in Python 3
    private static final Pattern TAG = Pattern.compile("<(\\w+):([^>]+)>", Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern PYTHON_FLOAT = Pattern.compile("[+-]?(\\d(_?\\d)*(\\.(\\d(_?\\d)*)?)?|\\.\\d(_?\\d)*)([eE][+-]?\\d(_?\\d)*)?");

    public static Parsed parse(String prompt) {
        Matcher m = TAG.matcher(prompt);
        StringBuilder rest = new StringBuilder();
        List<Reference> found = new ArrayList<>();
        List<String> ignored = new ArrayList<>();
        while (m.find()) {
            m.appendReplacement(rest, "");
            String type = m.group(1);
            if (type.equals("lora") || type.equals("lyco")) found.add(reference(m.group(), m.group(2)));
            else ignored.add(m.group());
        }
        m.appendTail(rest);
        Map<String, Reference> last = new LinkedHashMap<>();
        for (Reference r : found) last.put(r.name(), r);
        List<Reference> loras = found.stream().map(r -> last.get(r.name())).toList();
        return new Parsed(rest.toString(), loras, List.copyOf(ignored));
    }

    private static Reference reference(String tag, String args) {
        List<String> positional = new ArrayList<>();
        Map<String, String> named = new LinkedHashMap<>();
        for (String item : args.split(":", -1)) {
            String[] parts = item.split("=", 3);   // Python's item.split('=', 2): one '=' makes a named item
            if (parts.length == 2) named.put(parts[0], parts[1]);
            else positional.add(item);
        }
        if (positional.isEmpty()) throw new IllegalArgumentException("prompt tag " + tag + ": no LoRA name (the first item without '=')");
        float te = positional.size() > 1 ? number(tag, positional.get(1)) : 1f;
        if (named.containsKey("te")) te = number(tag, named.get("te"));
        float unet = positional.size() > 2 ? number(tag, positional.get(2)) : te;
        if (named.containsKey("unet")) unet = number(tag, named.get("unet"));
        return new Reference(positional.getFirst(), te, unet);
    }

    /** Python's float() of a decimal (surrounding whitespace, '_' between digits); inf and nan are refused. */
    private static float number(String tag, String text) {
        String s = text.strip();
        if (!PYTHON_FLOAT.matcher(s).matches()) throw new IllegalArgumentException("prompt tag " + tag + ": '" + text + "' is not a number");
        return Float.parseFloat(s.replace("_", ""));
    }
}
