package dev.sumi.device;

import dev.sumi.util.AtomicFiles;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;

/**
 * Native libraries shipped inside the jar, extracted once to a per-user cache
 * ({@code $XDG_CACHE_HOME/sumi/native/<content hash>/}, {@code %LOCALAPPDATA%\sumi\native\...} on Windows)
 * so that several sumi processes and versions never overwrite each other's copy.
 */
public final class NativeLibraries {
    private NativeLibraries() {}

    /** "linux-x86_64", "windows-x86_64", ... as the build names its output folders. */
    public static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String o = os.contains("win") ? "windows" : os.contains("mac") ? "macos" : "linux";
        String a = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return o + "-" + a;
    }

    public static Path cacheRoot() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        String local = System.getenv("LOCALAPPDATA");
        if (platform().startsWith("windows") && local != null) return Path.of(local, "sumi");
        if (xdg != null && !xdg.isBlank()) return Path.of(xdg, "sumi");
        return Path.of(System.getProperty("user.home"), ".cache", "sumi");
    }

    /** Extracts classpath resource {@code resource} as {@code fileName}; returns its path, or null if not bundled. */
    public static Path extract(String resource, String fileName) throws IOException {
        byte[] bytes;
        try (InputStream in = NativeLibraries.class.getResourceAsStream(resource)) {
            if (in == null) return null;
            bytes = in.readAllBytes();
        }
        String hash;
        try {
            hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        Path dir = cacheRoot().resolve("native").resolve(hash);
        Path file = dir.resolve(fileName);
        if (Files.isRegularFile(file) && Files.size(file) == bytes.length) return file;
        // another sumi process may extract the same content at the same moment: both renames are whole files
        AtomicFiles.write(file, bytes, true);
        return file;
    }
}
