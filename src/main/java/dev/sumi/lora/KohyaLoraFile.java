package dev.sumi.lora;

import dev.sumi.tensor.DType;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.SafeTensorsWriter;
import dev.sumi.tensor.safetensors.StoredConvert;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.tensor.safetensors.TensorEntry;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * kohya-format LoRA files ({@code networks/lora.py LoRANetwork.save_weights}), written and read.
 * <p>
 * <b>Layout.</b> Per module {@code <name>.lora_down.weight}, {@code <name>.lora_up.weight} and {@code <name>.alpha}
 * (a 0-d tensor), all in the save dtype: kohya casts the whole state dict, alpha included, with
 * {@code v.to(dtype)}. safetensors' {@code save_file} orders tensors by dtype, then by name, so a single-dtype
 * file holds them sorted by key; sumi writes the same order, so its data area is byte-identical to kohya's.
 * <p>
 * <b>Hashes.</b> {@code sshs_model_hash} and {@code sshs_legacy_hash} are kohya's
 * {@code train_util.precalculate_safetensors_hashes}: the file is serialised in memory with only the {@code ss_*}
 * metadata (so user metadata does not change the hash), then {@code sshs_model_hash} = sha256 of everything after
 * the header (additional-networks' "new hash") and {@code sshs_legacy_hash} = the first 8 hex digits of the sha256
 * of the 64 KiB at offset 1 MiB of that serialisation (empty past its end, as Python's read returns).
 * <p>
 * <b>Writing is atomic and checked.</b> A temporary file beside the target is written and flushed, re-opened and
 * checked by {@link A1111LoraCheck} against the base model, and only then renamed; a file that fails never
 * appears under its final name. An existing file is replaced only with {@code overwrite}.
 */
public final class KohyaLoraFile {
    private KohyaLoraFile() {}

    /** What a LoRA file holds: its LoRA modules, its metadata, and the keys that are not kohya LoRA/LoCon tensors. */
    public record Contents(List<LoraTensors> modules, Map<String, String> metadata, List<String> otherKeys) {}

    /** kohya's two hashes of the tensors and the ss_* metadata. */
    public record Hashes(String modelHash, String legacyHash) {}

    private record Stored(String key, long[] shape, MemorySegment bytes) {}

    /** Writes {@code modules} with kohya's metadata spelling, stored as {@code storeAs} (F16 default in kohya, BF16, F32). */
    public static Hashes write(Path out, List<LoraTensors> modules, KohyaLoraMetadata metadata, DType storeAs,
                               A1111LoraNames.Modules base, boolean overwrite) throws IOException {
        return write(out, modules, metadata.toMap(), storeAs, base, overwrite);
    }

    /**
     * Writes {@code modules} and {@code metadata} (which must hold kohya's {@code ss_*} keys and no {@code sshs_*}
     * key: those are computed here) to {@code out}, checked against {@code base} before it is published.
     */
    public static Hashes write(Path out, List<LoraTensors> modules, Map<String, String> metadata, DType storeAs,
                               A1111LoraNames.Modules base, boolean overwrite) throws IOException {
        if (storeAs != DType.F16 && storeAs != DType.BF16 && storeAs != DType.F32) {
            throw new IllegalArgumentException(out + ": a LoRA is stored as F16, BF16 or F32, not " + storeAs);
        }
        if (modules.isEmpty()) throw new IllegalArgumentException(out + ": no LoRA modules to write");
        Map<String, String> ss = new LinkedHashMap<>();
        for (var e : metadata.entrySet()) {
            if (e.getKey().startsWith("sshs_")) throw new IllegalArgumentException(out + ": metadata key '" + e.getKey() + "' is computed by the writer");
            if (e.getKey().startsWith("ss_")) ss.put(e.getKey(), e.getValue());
        }
        if (ss.isEmpty()) throw new IllegalArgumentException(out + ": no ss_* metadata (kohya always writes its training metadata; see KohyaLoraMetadata)");
        StoredType type = StoredType.of(storeAs);

        try (Arena arena = Arena.ofConfined()) {
            List<Stored> tensors = layout(out, modules, type, arena);
            Hashes hashes = hashes(tensors, ss, type);
            SafeTensorsWriter w = new SafeTensorsWriter();
            metadata.forEach(w::metadata);
            w.metadata("sshs_model_hash", hashes.modelHash());
            w.metadata("sshs_legacy_hash", hashes.legacyHash());
            for (Stored t : tensors) w.addSegment(t.key(), type, t.shape(), t.bytes());
            Path target = out.toAbsolutePath();
            w.write(out, overwrite, temp -> A1111LoraCheck.check(temp, target, base));
            return hashes;
        }
    }

    /** Every tensor in key order, converted to the stored type. */
    private static List<Stored> layout(Path out, List<LoraTensors> modules, StoredType type, Arena arena) {
        Map<String, Stored> byKey = new TreeMap<>();   // ASCII names: String order is safetensors' byte order
        Set<String> names = new HashSet<>();
        for (LoraTensors m : modules) {
            if (!names.add(m.kohyaName())) throw new IllegalArgumentException(out + ": LoRA module " + m.kohyaName() + " appears twice");
            put(byKey, m.kohyaName() + "." + A1111LoraCheck.DOWN, m.downShape(), m.down(), type, arena);
            put(byKey, m.kohyaName() + "." + A1111LoraCheck.UP, m.upShape(), m.up(), type, arena);
            put(byKey, m.kohyaName() + "." + A1111LoraCheck.ALPHA, new long[0], new float[] {m.alpha()}, type, arena);
        }
        return new ArrayList<>(byKey.values());
    }

    private static void put(Map<String, Stored> byKey, String key, long[] shape, float[] values, StoredType type, Arena arena) {
        MemorySegment bytes = arena.allocate((long) values.length * type.byteSize(), 8);
        StoredConvert.fromFloats(values, bytes, type);
        byKey.put(key, new Stored(key, shape, bytes));
    }

    /** {@code precalculate_safetensors_hashes} of the tensors in file order with only the ss_* metadata. */
    private static Hashes hashes(List<Stored> tensors, Map<String, String> ss, StoredType type) {
        // the header safetensors would write for (tensors, ss): only its length matters, the order of keys does not
        SafeTensorsWriter virtual = new SafeTensorsWriter();
        ss.forEach(virtual::metadata);
        long dataBytes = 0;
        for (Stored t : tensors) {
            virtual.add(t.key(), type, t.shape(), dst -> {});
            dataBytes += t.bytes().byteSize();
        }
        long dataStart = virtual.fileSize() - dataBytes;   // 8 + padded header
        long windowStart = 0x100000 - dataStart, windowEnd = windowStart + 0x10000;
        if (windowStart < 0) throw new IllegalStateException("the ss_* metadata is over 1 MiB; kohya's legacy hash would cover header bytes");

        MessageDigest model = sha256(), legacy = sha256();
        long offset = 0;
        for (Stored t : tensors) {
            MemorySegment b = t.bytes();
            model.update(b.asByteBuffer());
            long from = Math.max(windowStart, offset), to = Math.min(windowEnd, offset + b.byteSize());
            if (from < to) legacy.update(b.asSlice(from - offset, to - from).asByteBuffer());
            offset += b.byteSize();
        }
        HexFormat hex = HexFormat.of();
        return new Hashes(hex.formatHex(model.digest()), hex.formatHex(legacy.digest()).substring(0, 8));
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Reads a kohya or OneTrainer LoRA / LoCon file: every module with {@code lora_down.weight} and
     * {@code lora_up.weight} (and {@code alpha}; without it A1111 scales by 1, i.e. alpha = rank). Any other key
     * (LyCORIS {@code hada_}/{@code lokr_}/{@code lora_mid}, {@code dora_scale}, PEFT names) is listed in
     * {@link Contents#otherKeys()}. Which modules fit a base model is {@link A1111LoraNames#unmatchedKeys}'s question.
     */
    public static Contents read(Path file) throws IOException {
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            Map<String, Map<String, TensorEntry>> byModule = new TreeMap<>();
            List<String> other = new ArrayList<>();
            for (TensorEntry e : f.tensors()) {
                String key = e.name();
                int dot = key.indexOf('.');
                String part = dot < 0 ? "" : key.substring(dot + 1);
                if (part.equals(A1111LoraCheck.DOWN) || part.equals(A1111LoraCheck.UP) || part.equals(A1111LoraCheck.ALPHA)) {
                    byModule.computeIfAbsent(key.substring(0, dot), m -> new TreeMap<>()).put(part, e);
                } else {
                    other.add(key);
                }
            }
            List<LoraTensors> modules = new ArrayList<>();
            for (var entry : byModule.entrySet()) {
                String name = entry.getKey();
                Map<String, TensorEntry> parts = entry.getValue();
                TensorEntry down = parts.get(A1111LoraCheck.DOWN), up = parts.get(A1111LoraCheck.UP), alpha = parts.get(A1111LoraCheck.ALPHA);
                if (down == null || up == null || other.stream().anyMatch(k -> k.startsWith(name + "."))) {
                    for (TensorEntry e : parts.values()) other.add(e.name());   // half a module, or a LyCORIS one (lora_mid)
                    continue;
                }
                float a = down.shape().length > 0 ? down.shape()[0] : 1;
                if (alpha != null) {
                    if (alpha.numel() != 1) throw new IOException(file + ": key '" + alpha.name() + "': alpha has " + alpha.numel() + " elements, expected 1");
                    a = f.readFloats(alpha)[0];
                }
                try {
                    modules.add(new LoraTensors(name, f.readFloats(down), down.shape(), f.readFloats(up), up.shape(), a));
                } catch (IllegalArgumentException ex) {
                    throw new IOException(file + ": " + ex.getMessage(), ex);
                }
            }
            other.sort(null);
            return new Contents(List.copyOf(modules), f.metadata(), List.copyOf(other));
        }
    }
}
