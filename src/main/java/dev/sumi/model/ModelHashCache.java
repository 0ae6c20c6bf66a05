package dev.sumi.model;

import dev.sumi.util.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Checkpoint sha256s remembered by path, size and modification time, as AUTOMATIC1111 keeps them in its cache.json:
 * hashing a 2-7 GB checkpoint takes seconds, and every generated image's "Model hash" needs it. One line per file,
 * {@code sha256 TAB size TAB mtime-millis TAB absolute path}, in {@code ~/.cache/sumi/checkpoint-hashes.tsv}
 * ({@code $XDG_CACHE_HOME} when set, the {@code sumi.cacheDir} system property first). A cache that cannot be read or written only costs the hashing again.
 */
public final class ModelHashCache {
    private final Path file;

    public ModelHashCache(Path file) {
        this.file = file;
    }

    public static ModelHashCache standard() {
        String override = System.getProperty("sumi.cacheDir");   // tests keep their caches in a temp folder
        if (override != null) return new ModelHashCache(Path.of(override).resolve("checkpoint-hashes.tsv"));
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return new ModelHashCache(base.resolve("sumi").resolve("checkpoint-hashes.tsv"));
    }

    /** A1111's short hash (10 hex digits of the sha256) of a single-file checkpoint; null for a folder. */
    public String shortHash(Path checkpoint) throws IOException {
        if (!Files.isRegularFile(checkpoint)) return null;
        Path abs = checkpoint.toAbsolutePath().normalize();
        long size = Files.size(abs), mtime = Files.getLastModifiedTime(abs).toMillis();
        String key = "\t" + size + "\t" + mtime + "\t" + abs;
        List<String> lines = read();
        for (String line : lines) if (line.length() > 64 && line.substring(64).equals(key)) return line.substring(0, 10);
        String sha = ModelHashes.of(abs).sha256();
        List<String> kept = new ArrayList<>();
        for (String line : lines) if (!line.endsWith("\t" + abs)) kept.add(line);
        kept.add(sha + key);
        try {
            AtomicFiles.writeString(file, String.join("\n", kept) + "\n", true);
        } catch (IOException e) {
            // a read-only home: the hash is still right, only not remembered
        }
        return sha.substring(0, 10);
    }

    private List<String> read() {
        try {
            return Files.exists(file) ? Files.readAllLines(file, StandardCharsets.UTF_8) : List.of();
        } catch (IOException e) {
            return List.of();
        }
    }
}
