package dev.sumi.tensor.safetensors;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Builds a safetensors file and writes it atomically: the destination either keeps its old content or gets the
 * complete new file, never a partial one.
 * <p>
 * The header is compact JSON with {@code __metadata__} first (if any), then the tensors in the order added, their
 * data packed contiguously in that order, and spaces after the JSON so the data area starts 8-byte aligned (as
 * the reference implementation pads). The same calls give the same bytes.
 * <p>
 * Tensor data is streamed: each {@link DataSource} fills its tensor's bytes once, in order, while the file is
 * written, so a checkpoint never needs to fit in memory. A writer writes once.
 */
public final class SafeTensorsWriter {

    /** Fills {@code dst} (exactly the tensor's byte size, little-endian elements) with the tensor's data. */
    @FunctionalInterface
    public interface DataSource {
        void fill(MemorySegment dst) throws IOException;
    }

    private record Pending(String name, StoredType type, long[] shape, long bytes, DataSource source) {}

    /** Tensors up to this size are filled in a reused native buffer and written; larger ones into a mapping. */
    static final long STAGING_LIMIT = 8 << 20;

    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final List<Pending> tensors = new ArrayList<>();
    private final Set<String> names = new HashSet<>();
    private long dataBytes;
    private boolean written;
    private long stagingLimit = STAGING_LIMIT;

    public SafeTensorsWriter metadata(String key, String value) {
        checkText(key, "metadata key");
        checkText(value, "metadata value of " + Messages.quote(key));
        if (metadata.putIfAbsent(key, value) != null) throw new IllegalArgumentException("duplicate metadata key " + Messages.quote(key));
        return this;
    }

    public SafeTensorsWriter add(String name, StoredType type, long[] shape, DataSource source) {
        checkText(name, "tensor name");
        if (name.isEmpty()) throw new IllegalArgumentException("empty tensor name");
        if (name.equals(SafeTensorsFile.METADATA_KEY)) throw new IllegalArgumentException(Messages.quote(name) + " is reserved");
        if (names.contains(name)) throw new IllegalArgumentException("duplicate tensor name " + Messages.quote(name));
        if (type == null || source == null) throw new IllegalArgumentException("tensor " + Messages.quote(name) + ": no type or no data");
        long[] dims = shape.clone();
        if (dims.length > SafeTensorsFile.MAX_RANK) throw new IllegalArgumentException("tensor " + Messages.quote(name) + ": rank " + dims.length + " > " + SafeTensorsFile.MAX_RANK);
        for (long d : dims) {
            if (d < 0) throw new IllegalArgumentException("tensor " + Messages.quote(name) + ": negative dimension in " + Arrays.toString(dims));
        }
        long bytes = Math.multiplyExact(TensorEntry.numel(dims), (long) type.byteSize());
        dataBytes = Math.addExact(dataBytes, bytes);
        names.add(name);
        tensors.add(new Pending(name, type, dims, bytes, source));
        return this;
    }

    /** Adds {@code values} stored as {@code target}, rounded to nearest even (integer targets need exact integers). */
    public SafeTensorsWriter addFloats(String name, StoredType target, long[] shape, float[] values) {
        long numel = TensorEntry.numel(shape);
        if (numel != values.length) {
            throw new IllegalArgumentException("tensor " + Messages.quote(name) + ": " + values.length + " values for shape " + Arrays.toString(shape));
        }
        float[] copy = values.clone();
        if (!target.isFloatingPoint()) {   // integers must be exact: fail now, not halfway through writing the file
            try (Arena a = Arena.ofConfined()) {
                MemorySegment one = a.allocate(8);
                for (float v : copy) StoredConvert.setDouble(one, target, 0, v);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("tensor " + Messages.quote(name) + ": " + e.getMessage(), e);
            }
        }
        return add(name, target, shape, dst -> StoredConvert.fromFloats(copy, dst, target));
    }

    /** Adds a copy of {@code bytes} (taken while writing), which must be exactly the tensor's size. */
    public SafeTensorsWriter addSegment(String name, StoredType type, long[] shape, MemorySegment bytes) {
        long need = Math.multiplyExact(TensorEntry.numel(shape), (long) type.byteSize());
        if (bytes.byteSize() != need) {
            throw new IllegalArgumentException("tensor " + Messages.quote(name) + ": " + bytes.byteSize() + " bytes, " + type + " "
                    + Arrays.toString(shape) + " needs " + need);
        }
        return add(name, type, shape, dst -> MemorySegment.copy(bytes, 0, dst, 0, need));
    }

    private static void checkText(String s, String what) {
        if (s == null) throw new IllegalArgumentException(what + " is null");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new IllegalArgumentException(what + " " + Messages.quote(s) + " has an unpaired surrogate (not encodable as UTF-8)");
            }
        }
    }

    /** The header bytes, padded: the file is these after the 8-byte length, then the data. */
    byte[] header() {
        StringBuilder b = new StringBuilder(64 + 96 * tensors.size()).append('{');
        if (!metadata.isEmpty()) {
            Json.appendString(b, SafeTensorsFile.METADATA_KEY);
            b.append(":{");
            boolean first = true;
            for (Map.Entry<String, String> kv : metadata.entrySet()) {
                if (!first) b.append(',');
                first = false;
                Json.appendString(b, kv.getKey());
                b.append(':');
                Json.appendString(b, kv.getValue());
            }
            b.append('}');
        }
        long offset = 0;
        for (Pending t : tensors) {
            if (b.length() > 1) b.append(',');
            Json.appendString(b, t.name);
            b.append(":{\"dtype\":\"").append(t.type.headerName()).append("\",\"shape\":[");
            for (int i = 0; i < t.shape.length; i++) b.append(i == 0 ? "" : ",").append(t.shape[i]);
            b.append("],\"data_offsets\":[").append(offset).append(',').append(offset + t.bytes).append("]}");
            offset += t.bytes;
        }
        b.append('}');
        b.repeat(' ', (int) ((8 - utf8Length(b) % 8) % 8));
        byte[] bytes = b.toString().getBytes(StandardCharsets.UTF_8);
        if (bytes.length > SafeTensorsFile.MAX_HEADER_BYTES) {
            throw new IllegalStateException("the header would be " + bytes.length + " bytes, over the " + SafeTensorsFile.MAX_HEADER_BYTES + "-byte limit readers enforce");
        }
        return bytes;
    }

    private static long utf8Length(CharSequence s) {
        long n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x80) n += 1;
            else if (c < 0x800) n += 2;
            else if (Character.isHighSurrogate(c)) { n += 4; i++; }
            else n += 3;
        }
        return n;
    }

    /** Size of the file {@link #write} produces. */
    public long fileSize() {
        return 8 + header().length + dataBytes;
    }

    /** Size of the staging buffer: small in tests, so they cover the mapped path on tiny tensors. */
    SafeTensorsWriter stagingLimit(long bytes) {
        this.stagingLimit = bytes;
        return this;
    }

    /**
     * Writes the file: a temporary {@code .<name>.tmp-<random>} in the destination's folder, flushed to disk,
     * then renamed over {@code path}. On any failure (a data source's exception included) the temporary file is
     * deleted and {@code path} is untouched. An existing {@code path} is replaced only with {@code overwrite};
     * otherwise it is a {@link FileAlreadyExistsException} "&lt;path&gt;: exists (use --force to overwrite)".
     */
    public void write(Path path, boolean overwrite) throws IOException {
        write(path, overwrite, temp -> {});
    }

    /** Inspects the complete, flushed temporary file before it gets its final name; throwing keeps it from being published. */
    @FunctionalInterface
    public interface BeforePublish {
        void check(Path temp) throws IOException;
    }

    /**
     * {@link #write(Path, boolean)}, with {@code check} run on the finished temporary file before the rename: if it
     * throws, the temporary file is deleted, {@code path} is untouched and the exception propagates.
     */
    public void write(Path path, boolean overwrite, BeforePublish check) throws IOException {
        if (written) throw new IllegalStateException("this writer has already written " + path);
        Path target = path.toAbsolutePath();
        Path dir = target.getParent();
        if (dir == null || !Files.isDirectory(dir)) throw new IOException(path + ": the folder " + dir + " does not exist");
        if (Files.isDirectory(target)) throw new IOException(path + ": is a folder");
        if (!overwrite && Files.exists(target, LinkOption.NOFOLLOW_LINKS)) throw exists(path);
        byte[] header = header();
        written = true;   // the sources are used up from here on, whatever happens

        Path temp = dir.resolve("." + target.getFileName() + ".tmp-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()));
        boolean done = false;
        try {
            try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
                writeFully(ch, prefix, 0);
                writeFully(ch, ByteBuffer.wrap(header), 8);
                writeData(ch, 8 + header.length);
                long expected = 8 + header.length + dataBytes;
                if (ch.size() != expected) throw new IOException(temp + ": wrote " + ch.size() + " bytes, expected " + expected);
                ch.force(true);
            }
            check.check(temp);
            publish(temp, target, path, overwrite);
            done = true;
        } finally {
            if (!done) {
                try {
                    Files.deleteIfExists(temp);
                } catch (IOException ignored) {
                    // the original failure matters more; the name starts with '.' and says tmp
                }
            }
        }
        syncFolder(dir);
    }

    private static FileAlreadyExistsException exists(Path path) {
        return new FileAlreadyExistsException(path.toString(), null, "exists (use --force to overwrite)");
    }

    private void writeData(FileChannel ch, long start) throws IOException {
        long maxStaged = 0;
        for (Pending t : tensors) if (t.bytes <= stagingLimit) maxStaged = Math.max(maxStaged, t.bytes);
        // shared: a source may fill its segment from several threads
        try (Arena staging = Arena.ofShared()) {
            MemorySegment buffer = staging.allocate(Math.max(1, maxStaged), 64);
            long offset = start;
            for (Pending t : tensors) {
                if (t.bytes <= stagingLimit) {
                    MemorySegment dst = buffer.asSlice(0, t.bytes);
                    dst.fill((byte) 0);   // a source that skips bytes still gives the same file every time
                    t.source.fill(dst);
                    writeFully(ch, dst.asByteBuffer(), offset);
                } else {
                    // a mapped region of the (fresh, zero-filled) file: the source writes straight into the page cache
                    try (Arena region = Arena.ofShared()) {
                        MemorySegment dst = ch.map(FileChannel.MapMode.READ_WRITE, offset, t.bytes, region);
                        t.source.fill(dst);
                        dst.force();
                    }
                }
                offset += t.bytes;
            }
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer src, long position) throws IOException {
        long p = position;
        while (src.hasRemaining()) p += ch.write(src, p);
    }

    /** Moves the finished temp file to the destination. */
    private static void publish(Path temp, Path target, Path shown, boolean overwrite) throws IOException {
        if (overwrite) {
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);   // rename(2): replaces atomically
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            return;
        }
        // Without overwrite, a rename would silently replace a file created since the check in write(); a hard
        // link fails if the name exists, atomically. Where links are unsupported, fall back to a checked move.
        try {
            Files.createLink(target, temp);
        } catch (FileAlreadyExistsException e) {
            throw exists(shown);
        } catch (IOException | UnsupportedOperationException e) {
            try {
                Files.move(temp, target);
            } catch (FileAlreadyExistsException e2) {
                throw exists(shown);
            }
            return;
        }
        try {
            Files.delete(temp);
        } catch (IOException ignored) {
            // the destination is complete; a leftover '.tmp-' link to it is harmless
        }
    }

    /** Makes the rename durable: fsync the folder. Not possible everywhere (Windows cannot open a folder). */
    private static void syncFolder(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // the file itself is complete and flushed; only the directory entry's durability is best effort
        }
    }
}
