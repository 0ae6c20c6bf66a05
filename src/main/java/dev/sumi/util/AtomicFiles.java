package dev.sumi.util;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/** Small files written the safe way: a temp file beside the target, fsync, atomic rename. */
public final class AtomicFiles {
    private AtomicFiles() {}

    public static void writeString(Path file, String text, boolean overwrite) throws IOException {
        write(file, text.getBytes(StandardCharsets.UTF_8), overwrite);
    }

    public static void write(Path file, byte[] bytes, boolean overwrite) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        if (!overwrite && Files.exists(file)) throw new FileAlreadyExistsException(file + ": exists (use --force to overwrite)");
        Path tmp = writeTemp(dir, file.getFileName().toString(), bytes);
        try {
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * Writes {@code file} only if nothing has its name, never replacing a file, even one another writer creates at the
     * same moment: the bytes go to an fsync'd temp file beside it, which is then hard-linked to the name (link(2) fails
     * when the name exists). Where the file system has no hard links, the name is claimed with an exclusive create and
     * the temp file renamed over that placeholder.
     *
     * @throws FileAlreadyExistsException naming the file when it exists (it is left untouched)
     */
    public static void writeNew(Path file, byte[] bytes) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        if (Files.exists(file, LinkOption.NOFOLLOW_LINKS)) throw exists(file);
        Path tmp = writeTemp(dir, file.getFileName().toString(), bytes);
        try {
            try {
                Files.createLink(file, tmp);
            } catch (FileAlreadyExistsException e) {
                throw exists(file);
            } catch (UnsupportedOperationException | FileSystemException e) {
                claimThenReplace(file, tmp);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** No hard links here: claim the name with an exclusive create, then rename the finished temp file over it. */
    public static void claimThenReplace(Path file, Path tmp) throws IOException {
        try {
            Files.newByteChannel(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).close();
        } catch (FileAlreadyExistsException e) {
            throw exists(file);
        }
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(file); // our own empty placeholder
            throw e;
        }
    }

    /**
     * {@code bytes} in a new fsync'd temp file in {@code dir} named after {@code name}; the leading '.' keeps it out of
     * folder scans (A1111's image counter, LoRA lists). The caller moves or links it, then deletes it.
     */
    private static Path writeTemp(Path dir, String name, byte[] bytes) throws IOException {
        Path tmp = Files.createTempFile(dir, "." + name + ".", ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) ch.write(b);
            ch.force(true);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        return tmp;
    }

    private static FileAlreadyExistsException exists(Path file) {
        return new FileAlreadyExistsException(file.toString(), null, "already exists, not overwritten");
    }
}
