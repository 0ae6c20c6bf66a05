package dev.sumi.tensor.safetensors;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file, memory-mapped read-only. Layout: an unsigned 64-bit little-endian header length N, N bytes
 * of UTF-8 JSON, then the data area, which the header's {@code data_offsets} index.
 * <p>
 * {@link #open} reads and validates the whole header before anything is mapped, and never touches tensor data:
 * a file of any size opens in the time its header takes to parse. Every problem with the file is a
 * {@link SafeTensorsException} naming it. Accepted beyond the reference implementation: gaps between tensors and
 * unused bytes after the last one (the reference requires the tensors to tile the data area exactly).
 * <p>
 * Segments from {@link #data} are valid until {@link #close}; using one afterwards throws
 * {@link IllegalStateException}. The file must not be truncated while open (a read of a vanished page faults).
 */
public final class SafeTensorsFile implements AutoCloseable {
    /** The reference implementation's limit; a larger header is rejected before it is read. */
    public static final long MAX_HEADER_BYTES = 100_000_000;
    public static final int MAX_RANK = 8;
    public static final String METADATA_KEY = "__metadata__";

    private final Path path;
    private final long fileSize;
    private final long dataStart;
    private final Map<String, String> metadata;
    private final List<TensorEntry> tensors;              // by begin offset
    private final Map<String, TensorEntry> byName;
    // A shared arena: close() unmaps now (deterministically, so the file can be replaced or deleted at once, even
    // on Windows), and loader threads other than the opener may read the segments. Arena.ofAuto() would unmap
    // whenever the GC decides (too late for the address space of several multi-GB checkpoints, or too early
    // while a slice is still in use), Arena.global() never, and a confined arena would tie reads to one thread.
    private final Arena arena;
    private final MemorySegment mapping;

    private SafeTensorsFile(Path path, long fileSize, long dataStart, Map<String, String> metadata,
                            List<TensorEntry> tensors, Arena arena, MemorySegment mapping) {
        this.path = path;
        this.fileSize = fileSize;
        this.dataStart = dataStart;
        this.metadata = metadata;
        this.tensors = tensors;
        this.arena = arena;
        this.mapping = mapping;
        Map<String, TensorEntry> m = new HashMap<>(tensors.size() * 2);
        for (TensorEntry e : tensors) m.put(e.name(), e);
        this.byName = m;
    }

    public static SafeTensorsFile open(Path path) throws SafeTensorsException {
        if (Files.isDirectory(path)) throw new SafeTensorsException(path, "is a folder, not a safetensors file");
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new SafeTensorsException(path, "file is " + size + " bytes, too short for the 8-byte header length");
            ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, prefix, 0);
            long n = prefix.getLong(0);
            if (n < 0 || n > MAX_HEADER_BYTES) {
                throw new SafeTensorsException(path, "header length " + Long.toUnsignedString(n) + " exceeds the " + MAX_HEADER_BYTES + "-byte limit");
            }
            if (n > size - 8) throw new SafeTensorsException(path, "header length " + n + " exceeds the file (" + size + " bytes)");
            ByteBuffer header = ByteBuffer.allocate((int) n);
            readFully(ch, header, 8);
            Header h = new HeaderReader(path, size - 8 - n).read(header.array());

            Arena arena = Arena.ofShared();
            try {
                MemorySegment mapping = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
                return new SafeTensorsFile(path, size, 8 + n, h.metadata, h.tensors, arena, mapping);
            } catch (Throwable t) {
                arena.close();
                throw t;
            }
        } catch (SafeTensorsException e) {
            throw e;
        } catch (IOException e) {
            throw new SafeTensorsException(path, "cannot read: " + describe(e), e);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer dst, long position) throws IOException {
        while (dst.hasRemaining()) {
            int r = ch.read(dst, position + dst.position());
            if (r < 0) throw new IOException("file shrank while being read");
        }
    }

    private static String describe(IOException e) {
        if (e instanceof NoSuchFileException) return "no such file";
        if (e instanceof AccessDeniedException) return "permission denied";
        if (e instanceof FileSystemException f && f.getReason() != null) return f.getReason();
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }

    private record Header(Map<String, String> metadata, List<TensorEntry> tensors) {}

    /** Validates a parsed header against the rules in the class comment; every failure names the file. */
    private record HeaderReader(Path path, long dataSize) {

        Header read(byte[] bytes) throws SafeTensorsException {
            String text;
            try {
                text = StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(bytes)).toString();
            } catch (CharacterCodingException e) {
                throw fail("header is not valid UTF-8");
            }
            Object root;
            try {
                root = Json.parse(text);
            } catch (Json.ParseException e) {
                throw fail("header is not valid JSON: " + e.getMessage());
            }
            if (!(root instanceof Map<?, ?> top)) throw fail("header is not a JSON object (found " + Json.kind(root) + ")");

            Map<String, String> metadata = Map.of();
            List<TensorEntry> tensors = new ArrayList<>(top.size());
            for (Map.Entry<?, ?> kv : top.entrySet()) {
                String key = (String) kv.getKey();
                if (key.equals(METADATA_KEY)) metadata = metadata(kv.getValue());
                else tensors.add(tensor(key, kv.getValue()));
            }
            // by begin; ties (empty tensors) by end, then name, so the order never depends on the JSON's
            tensors.sort(Comparator.comparingLong(TensorEntry::begin).thenComparingLong(TensorEntry::end).thenComparing(TensorEntry::name));
            TensorEntry last = null;   // the non-empty tensor reaching furthest so far
            for (TensorEntry e : tensors) {
                if (e.byteSize() == 0) continue;
                if (last != null && e.begin() < last.end()) {
                    throw fail("tensors " + Messages.quote(last.name()) + " [" + last.begin() + ", " + last.end() + "] and "
                            + Messages.quote(e.name()) + " [" + e.begin() + ", " + e.end() + "] overlap");
                }
                last = e;
            }
            return new Header(metadata, Collections.unmodifiableList(tensors));
        }

        private Map<String, String> metadata(Object v) throws SafeTensorsException {
            if (!(v instanceof Map<?, ?> m)) throw fail(METADATA_KEY + " is " + Json.kind(v) + ", not an object of strings");
            Map<String, String> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> kv : m.entrySet()) {
                if (!(kv.getValue() instanceof String s)) {
                    throw fail(METADATA_KEY + " value of " + Messages.quote((String) kv.getKey()) + " is " + Json.kind(kv.getValue()) + ", not a string");
                }
                out.put((String) kv.getKey(), s);
            }
            return Collections.unmodifiableMap(out);
        }

        private TensorEntry tensor(String name, Object v) throws SafeTensorsException {
            if (name.isEmpty()) throw fail("a tensor has an empty name");
            String what = "tensor " + Messages.quote(name);
            if (!(v instanceof Map<?, ?> m)) throw fail(what + " is " + Json.kind(v) + ", not an object");
            for (Object k : m.keySet()) {
                if (!k.equals("dtype") && !k.equals("shape") && !k.equals("data_offsets")) {
                    throw fail(what + " has an unexpected key " + Messages.quote((String) k));
                }
            }
            Object dtype = required(m, "dtype", what);
            Object shapeValue = required(m, "shape", what);
            Object offsetsValue = required(m, "data_offsets", what);

            if (!(dtype instanceof String dtypeName)) throw fail(what + ": dtype is " + Json.kind(dtype) + ", not a string");
            StoredType type = StoredType.lookup(dtypeName);
            if (type == null) throw fail(what + ": unknown dtype " + Messages.quote(dtypeName));

            if (!(shapeValue instanceof List<?> dims)) throw fail(what + ": shape is " + Json.kind(shapeValue) + ", not an array");
            if (dims.size() > MAX_RANK) throw fail(what + ": shape has rank " + dims.size() + ", more than " + MAX_RANK);
            long[] shape = new long[dims.size()];
            for (int i = 0; i < shape.length; i++) shape[i] = nonNegative(dims.get(i), what + ": shape dimension");
            long numel;
            long bytes;
            try {
                numel = TensorEntry.numel(shape);
                bytes = Math.multiplyExact(numel, (long) type.byteSize());
            } catch (ArithmeticException e) {
                throw fail(what + ": shape " + Arrays.toString(shape) + " of " + type + " overflows 64 bits");
            }

            if (!(offsetsValue instanceof List<?> offsets) || offsets.size() != 2) {
                throw fail(what + ": data_offsets is not a pair [begin, end]");
            }
            long begin = nonNegative(offsets.get(0), what + ": data_offsets begin");
            long end = nonNegative(offsets.get(1), what + ": data_offsets end");
            String range = "[" + begin + ", " + end + "]";
            if (begin > end) throw fail(what + ": data_offsets " + range + " begin after end");
            if (end - begin != bytes) {
                throw fail(what + ": data_offsets " + range + " hold " + (end - begin) + " bytes, but " + type + " "
                        + Arrays.toString(shape) + " needs " + bytes);
            }
            if (end > dataSize) throw fail(what + ": data_offsets " + range + " exceed the data area (" + dataSize + " bytes)");
            return new TensorEntry(name, type, shape, begin, end);
        }

        private Object required(Map<?, ?> m, String key, String what) throws SafeTensorsException {
            Object v = m.get(key);
            if (v == null) throw fail(what + " has no \"" + key + "\"");
            return v;
        }

        private long nonNegative(Object v, String what) throws SafeTensorsException {
            if (!(v instanceof Json.Num num) || !num.isNonNegativeInteger()) {
                String shown = v instanceof Json.Num || v instanceof Boolean || v == Json.NULL ? v.toString() : Json.kind(v);
                throw fail(what + " " + Messages.quote(shown) + " is not a non-negative integer");
            }
            try {
                return Long.parseLong(num.text());
            } catch (NumberFormatException e) {
                throw fail(what + " " + Messages.quote(num.text()) + " exceeds 2^63-1");
            }
        }

        private SafeTensorsException fail(String reason) {
            return new SafeTensorsException(path, reason);
        }
    }

    public Path path() {
        return path;
    }

    public long fileSize() {
        return fileSize;
    }

    /** Absolute file offset of the data area (8 + header length); tensor offsets count from here. */
    public long dataStart() {
        return dataStart;
    }

    /** The {@code __metadata__} strings in file order (empty if the file has none). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Every tensor, ordered by begin offset. */
    public List<TensorEntry> tensors() {
        return tensors;
    }

    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    public TensorEntry get(String name) throws SafeTensorsException {
        TensorEntry e = byName.get(name);
        if (e == null) throw new SafeTensorsException(path, "no tensor " + Messages.quote(name) + " (the file has " + tensors.size() + ")");
        return e;
    }

    /** The tensor's bytes: a read-only slice of the mapping, valid until {@link #close}. */
    public MemorySegment data(TensorEntry e) {
        if (!e.equals(byName.get(e.name()))) throw new IllegalArgumentException(e + " is not a tensor of " + path);
        return mapping.asSlice(dataStart + e.begin(), e.byteSize());
    }

    /** Every element of the tensor as a float (see {@link StoredConvert#getFloat} for how each type converts). */
    public float[] readFloats(String name) throws SafeTensorsException {
        return readFloats(get(name));
    }

    public float[] readFloats(TensorEntry e) throws SafeTensorsException {
        long n = e.numel();
        if (n > Integer.MAX_VALUE - 8) throw new SafeTensorsException(path, "tensor " + Messages.quote(e.name()) + " has " + n + " elements, too many for a float[]");
        float[] out = new float[(int) n];
        StoredConvert.toFloats(data(e), e.type(), out);
        return out;
    }

    /** Unmaps the file; segments from {@link #data} become unusable. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }

    @Override
    public String toString() {
        return path + " (" + tensors.size() + " tensors, " + fileSize + " bytes)";
    }
}
