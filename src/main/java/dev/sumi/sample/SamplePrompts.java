package dev.sumi.sample;

import java.io.IOException;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * kohya sd-scripts' preview prompt file ({@code --sample_prompts}, a .txt): one prompt per line, blank lines and lines
 * starting with {@code #} skipped; options follow the prompt, each after " --": {@code --n} negative prompt, {@code --w}
 * / {@code --h} size, {@code --d} seed, {@code --s} steps (clamped to 1..1000), {@code --l} CFG scale, {@code --ss}
 * sampler. As kohya's line_to_prompt_dict: the line is split at " --", each part is matched from its start, case
 * insensitive, and a part that matches nothing is ignored.
 */
public final class SamplePrompts {
    private SamplePrompts() {}

    /** One line's prompt; null fields were not given. {@code index}: the prompt's position in the file, from 0. */
    public record Prompt(int index, String prompt, String negative, Integer width, Integer height, Long seed, Integer steps,
                         Double cfgScale, String sampler) {

        /**
         * The request this prompt makes: missing values from kohya's defaults (30 steps, CFG 7.5), the given size
         * (rounded down to a multiple of 8, as kohya), the given sampler and seed.
         */
        public GenerationRequest request(int defaultWidth, int defaultHeight, SamplerKind defaultSampler, long defaultSeed, int clipSkip) {
            int w = Math.max(8, (width != null ? width : defaultWidth) / 8 * 8), h = Math.max(8, (height != null ? height : defaultHeight) / 8 * 8);
            return new GenerationRequest(prompt, negative == null ? "" : negative, sampler != null ? SamplerKind.parse(sampler) : defaultSampler,
                    steps != null ? steps : 30, cfgScale != null ? cfgScale : 7.5, seed != null ? seed : defaultSeed, w, h, 1, clipSkip);
        }
    }

    private static final Pattern W = option("w (\\d+)"), H = option("h (\\d+)"), D = option("d (\\d+)"), S = option("s (\\d+)"),
            L = option("l ([\\d.]+)"), N = option("n (.+)"), SS = option("ss (.+)");

    private static Pattern option(String regex) {
        return Pattern.compile(regex, Pattern.CASE_INSENSITIVE | Pattern.DOTALL);
    }

    /** The file's prompts; a missing or unreadable file, or a non-.txt one, is a one-line error naming it. */
    public static List<Prompt> read(Path file) throws IOException {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (!name.endsWith(".txt")) throw new IOException(file + ": preview prompts must be a .txt file (one prompt per line); .toml and .json prompt files are not supported");
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new IOException(file + ": no such preview prompt file");
        } catch (MalformedInputException e) {
            throw new IOException(file + ": not UTF-8 text");
        }
        List<Prompt> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || lines.get(i).startsWith("#")) continue;
            try {
                Prompt p = parse(line, out.size());
                if (p.sampler() != null) SamplerKind.parse(p.sampler());
                out.add(p);
            } catch (IllegalArgumentException e) {
                throw new IOException(file + ":" + (i + 1) + ": " + e.getMessage());
            }
        }
        if (out.isEmpty()) throw new IOException(file + ": holds no prompt");
        return out;
    }

    /** One line (already stripped) as kohya reads it. */
    public static Prompt parse(String line, int index) {
        String[] parts = line.split(" --");
        String negative = null, sampler = null;
        Integer width = null, height = null, steps = null;
        Long seed = null;
        Double cfg = null;
        for (int i = 1; i < parts.length; i++) {
            String part = parts[i];
            Matcher m;
            if ((m = W.matcher(part)).lookingAt()) width = positive(m.group(1), "--w");
            else if ((m = H.matcher(part)).lookingAt()) height = positive(m.group(1), "--h");
            else if ((m = D.matcher(part)).lookingAt()) seed = Long.parseLong(m.group(1));
            else if ((m = S.matcher(part)).lookingAt()) steps = Math.clamp(Long.parseLong(m.group(1)), 1, 1000);
            else if ((m = L.matcher(part)).lookingAt()) cfg = number(m.group(1), "--l");
            else if ((m = N.matcher(part)).lookingAt()) negative = m.group(1);
            else if ((m = SS.matcher(part)).lookingAt()) sampler = m.group(1).strip();
        }
        return new Prompt(index, parts[0], negative, width, height, seed, steps, cfg, sampler);
    }

    private static int positive(String digits, String option) {
        try {
            int v = Integer.parseInt(digits);
            if (v >= 8) return v;
        } catch (NumberFormatException ignored) {
            // too large: the message below
        }
        throw new IllegalArgumentException(option + " " + digits + ": must be a size of at least 8 pixels");
    }

    private static double number(String text, String option) {
        try {
            return Double.parseDouble(text);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + " " + text + ": not a number");
        }
    }
}
