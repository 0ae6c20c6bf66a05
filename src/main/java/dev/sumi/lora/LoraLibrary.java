package dev.sumi.lora;

import dev.sumi.tensor.safetensors.SafeTensorsException;
import dev.sumi.tensor.safetensors.SafeTensorsFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A folder of LoRA files and the names a prompt's {@code <lora:NAME:...>} finds them by, as AUTOMATIC1111's
 * {@code networks.list_available_networks} and {@code load_networks} do:
 * <ul>
 *   <li>every {@code .safetensors}, {@code .pt} and {@code .ckpt} file under the folder, subfolders included
 *       ({@code walk_files}: folders and then files in natural order: digit runs by value, text case-insensitive);</li>
 *   <li>a file is known by its stem and by its alias, the metadata's {@code ss_output_name} (else the stem); a later
 *       file with the same stem or alias replaces the earlier one;</li>
 *   <li>an alias that was already taken (by a stem or another alias) becomes forbidden: a NAME equal to it (case
 *       ignored) then finds only a file with that stem; so does "none".</li>
 * </ul>
 * Names are case-sensitive. Only {@code .safetensors} files can be applied: the others are found so that naming one
 * gives a clear error rather than "not found".
 */
public final class LoraLibrary {

    /** One file: its stem, its alias, where it is. */
    public record Entry(String name, String alias, Path file) {}

    private static final List<String> EXTENSIONS = List.of(".safetensors", ".pt", ".ckpt");

    private final Path folder;
    private final List<Entry> entries;
    private final Map<String, Entry> byStem = new HashMap<>();    // available_networks
    private final Map<String, Entry> byAlias = new HashMap<>();   // available_network_aliases: stems and aliases
    private final Set<String> forbidden = new HashSet<>(Set.of("none", "Addams"));   // as A1111 seeds it ("Addams" never matches a lower-cased name)

    private LoraLibrary(Path folder, List<Entry> entries) {
        this.folder = folder;
        this.entries = List.copyOf(entries);
        for (Entry e : entries) {
            byStem.put(e.name(), e);
            if (byAlias.containsKey(e.alias())) forbidden.add(e.alias().toLowerCase(Locale.ROOT));
            byAlias.put(e.name(), e);
            byAlias.put(e.alias(), e);
        }
    }

    /** Lists the LoRA files under {@code folder}, reading each .safetensors header for its alias. */
    public static LoraLibrary scan(Path folder) throws IOException {
        if (!Files.isDirectory(folder)) throw new IOException(folder + ": no such LoRA folder");
        List<Path> files;
        try (Stream<Path> walk = Files.walk(folder, FileVisitOption.FOLLOW_LINKS)) {
            files = walk.filter(Files::isRegularFile).filter(p -> EXTENSIONS.contains(extension(p.getFileName().toString()))).toList();
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        Comparator<Path> walkOrder = Comparator.comparing((Path p) -> p.getParent().toString(), LoraLibrary::naturalCompare)
                .thenComparing(p -> p.getFileName().toString(), LoraLibrary::naturalCompare);
        List<Entry> entries = new ArrayList<>();
        for (Path p : files.stream().sorted(walkOrder).toList()) {
            String fileName = p.getFileName().toString();
            String stem = fileName.substring(0, fileName.length() - extension(fileName).length());
            entries.add(new Entry(stem, alias(p, stem), p));
        }
        return new LoraLibrary(folder, entries);
    }

    /** ss_output_name from a .safetensors header; the stem for other files or a header that cannot be read (A1111 goes on too). */
    private static String alias(Path file, String stem) {
        if (!extension(file.getFileName().toString()).equals(".safetensors")) return stem;
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            return f.metadata().getOrDefault("ss_output_name", stem);
        } catch (SafeTensorsException unreadable) {
            return stem;   // reading it for the LoRA reports the problem
        }
    }

    /** Python's os.path.splitext extension, lower-cased: from the last dot, leading dots of the name not counting. */
    private static String extension(String fileName) {
        int dot = fileName.lastIndexOf('.');
        if (dot <= 0 || fileName.substring(0, dot).chars().allMatch(c -> c == '.')) return "";
        return fileName.substring(dot).toLowerCase(Locale.ROOT);
    }

    public Path folder() {
        return folder;
    }

    /** Every file found, in A1111's walk order. */
    public List<Entry> entries() {
        return entries;
    }

    /**
     * The .safetensors file a prompt's NAME names. Throws an IllegalArgumentException for a .pt / .ckpt file or an
     * unknown NAME (listing up to 10 close names).
     */
    public Path resolve(String name) {
        Entry e = forbidden.contains(name.toLowerCase(Locale.ROOT)) ? byStem.get(name) : byAlias.get(name);
        if (e == null) {
            List<String> close = closeNames(name);
            throw new IllegalArgumentException("LoRA '" + name + "' is not in " + folder + " (" + entries.size() + " files, searched by file name and ss_output_name)"
                    + (close.isEmpty() ? "" : "; close names: " + String.join(", ", close)));
        }
        if (!extension(e.file().getFileName().toString()).equals(".safetensors")) {
            throw new IllegalArgumentException(e.file() + ": LoRA '" + name + "' is a pickle file; only .safetensors is supported (convert it first)");
        }
        return e.file();
    }

    /** Up to 10 known names near {@code name}: containing it or within a third of its length in edits, case ignored. */
    private List<String> closeNames(String name) {
        String want = name.toLowerCase(Locale.ROOT);
        int limit = Math.max(2, want.length() / 3);
        record Scored(String name, int distance) {}
        List<Scored> scored = new ArrayList<>();
        for (String known : new HashSet<>(byAlias.keySet())) {
            String k = known.toLowerCase(Locale.ROOT);
            int d = editDistance(want, k);
            if (d <= limit || !want.isEmpty() && (k.contains(want) || want.contains(k) && !k.isEmpty())) scored.add(new Scored(known, d));
        }
        return scored.stream().sorted(Comparator.comparingInt(Scored::distance).thenComparing(Scored::name)).limit(10).map(Scored::name).toList();
    }

    private static int editDistance(String a, String b) {
        int[] prev = new int[b.length() + 1], cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                cur[j] = Math.min(Math.min(cur[j - 1], prev[j]) + 1, prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }

    private static final Pattern DIGITS = Pattern.compile("[0-9]+");

    /** A1111's natural_sort_key order: text and digit runs alternate; digit runs compare by value, text case-insensitively. */
    static int naturalCompare(String a, String b) {
        List<Object> ka = naturalKey(a), kb = naturalKey(b);
        for (int i = 0; i < Math.min(ka.size(), kb.size()); i++) {
            Object x = ka.get(i), y = kb.get(i);
            int c = x instanceof BigInteger bx ? bx.compareTo((BigInteger) y) : ((String) x).compareTo((String) y);
            if (c != 0) return c;
        }
        return Integer.compare(ka.size(), kb.size());
    }

    private static List<Object> naturalKey(String s) {
        List<Object> key = new ArrayList<>();   // text, number, text, ...: re.split with a group starts with (maybe empty) text
        Matcher m = DIGITS.matcher(s);
        int at = 0;
        while (m.find()) {
            key.add(s.substring(at, m.start()).toLowerCase(Locale.ROOT));
            key.add(new BigInteger(m.group()));
            at = m.end();
        }
        key.add(s.substring(at).toLowerCase(Locale.ROOT));
        return key;
    }
}
