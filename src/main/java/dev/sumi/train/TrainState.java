package dev.sumi.train;

import dev.sumi.tensor.safetensors.Json;
import dev.sumi.tensor.safetensors.SafeTensorsException;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.SafeTensorsWriter;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.tensor.safetensors.TensorEntry;
import dev.sumi.util.AtomicFiles;
import dev.sumi.util.JsonOut;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * A resumable training state, saved as a folder:
 * <pre>
 *   state.json                format, version, step, epoch, step in epoch, scheduler step, loss scale, RNG states, config
 *   lora.safetensors          the LoRA parameters (F32, by name)
 *   optimizer.safetensors     the optimizer moments (F32, by name, e.g. "&lt;param&gt;.exp_avg")
 * </pre>
 * {@link #save} writes the folder complete under a temporary name (each file fsynced), then swaps it in: the old folder
 * is renamed aside, the new one renamed to the name, the old one deleted. At every moment either the old or the new
 * state is complete on disk; {@link #load} also finds the one renamed aside if a crash hit between the two renames.
 *
 * @param step          optimizer steps done
 * @param epoch         epochs fully done
 * @param stepInEpoch   steps done in the current epoch (where the data order resumes)
 * @param schedulerStep the LR schedule's position
 * @param lossScale     the fp16 dynamic loss scale (1 without fp16)
 * @param rngs          every RNG by purpose ("noise", "data", ...)
 * @param config        the run's {@link TrainConfig#toMap()}
 * @param lora          LoRA tensors by name
 * @param optimizer     optimizer tensors by name
 */
public record TrainState(long step, int epoch, long stepInEpoch, long schedulerStep, double lossScale, Map<String, TrainRng.State> rngs,
                         Map<String, Object> config, Map<String, Tensor> lora, Map<String, Tensor> optimizer) {

    public static final String FORMAT = "sumi-train-state";
    public static final int VERSION = 1;

    /** A host copy of one F32 tensor: data (numel(shape)). */
    public record Tensor(long[] shape, float[] data) {
        public Tensor {
            if (TensorEntry.numel(shape) != data.length) throw new IllegalArgumentException("tensor data " + data.length + " does not fill its shape");
        }
    }

    /** Writes the state to dir atomically (see the class comment); dir's parent is created. */
    public void save(Path dir) throws IOException {
        Path target = dir.toAbsolutePath().normalize();
        Path parent = target.getParent();
        Files.createDirectories(parent);
        String tag = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
        Path tmp = parent.resolve(target.getFileName() + ".tmp-" + tag);
        Path old = parent.resolve(target.getFileName() + ".old-" + tag);
        Files.createDirectory(tmp);
        try {
            tensors(lora).write(tmp.resolve("lora.safetensors"), false);
            tensors(optimizer).write(tmp.resolve("optimizer.safetensors"), false);
            AtomicFiles.writeString(tmp.resolve("state.json"), JsonOut.write(header()) + "\n", false);
            syncFolder(tmp);
            boolean hadOld = Files.exists(target);
            if (hadOld) move(target, old);
            move(tmp, target);
            syncFolder(parent);
            if (hadOld) deleteTree(old);
        } finally {
            if (Files.exists(tmp)) deleteTree(tmp);
        }
    }

    /** Reads a state folder; a missing, corrupt or other-version state is an error that says which file and why. */
    public static TrainState load(Path dir) throws IOException {
        Path d = dir;
        if (!Files.isDirectory(d)) {
            d = aside(dir);
            if (d == null) throw new IllegalArgumentException(dir + ": no saved state there");
        }
        Path json = d.resolve("state.json");
        if (!Files.isRegularFile(json)) throw new IllegalArgumentException(d + ": not a sumi state (no state.json)");
        Map<String, Object> h;
        try {
            h = Json.parse(Files.readString(json)) instanceof Map<?, ?> m ? cast(m) : null;
        } catch (Json.ParseException e) {
            throw new IllegalArgumentException(json + ": corrupt: " + e.getMessage());
        }
        if (h == null || !FORMAT.equals(h.get("format"))) throw new IllegalArgumentException(json + ": not a sumi training state");
        long version = longOf(json, h, "version");
        if (version != VERSION) throw new IllegalArgumentException(json + ": state version " + version + ", this sumi reads version " + VERSION);
        Map<String, TrainRng.State> rngs = new LinkedHashMap<>();
        if (!(h.get("rng") instanceof Map<?, ?> rm)) throw new IllegalArgumentException(json + ": corrupt: no rng");
        for (var e : rm.entrySet()) {
            if (!(e.getValue() instanceof List<?> l) || l.size() != 6) throw new IllegalArgumentException(json + ": corrupt rng " + e.getKey());
            long[] w = new long[6];
            for (int i = 0; i < 6; i++) w[i] = parseLong(json, "rng " + e.getKey(), l.get(i));
            rngs.put(String.valueOf(e.getKey()), new TrainRng.State(w[0], w[1], w[2], w[3], w[4] != 0, Double.longBitsToDouble(w[5])));
        }
        if (!(h.get("config") instanceof Map<?, ?> cm)) throw new IllegalArgumentException(json + ": corrupt: no config");
        double lossScale = Double.longBitsToDouble(longOf(json, h, "loss_scale_bits"));
        return new TrainState(longOf(json, h, "step"), (int) longOf(json, h, "epoch"), longOf(json, h, "step_in_epoch"), longOf(json, h, "scheduler_step"),
                lossScale, rngs, cast(cm), readTensors(d.resolve("lora.safetensors")), readTensors(d.resolve("optimizer.safetensors")));
    }

    private Map<String, Object> header() {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("format", FORMAT);
        h.put("version", VERSION);
        h.put("step", step);
        h.put("epoch", epoch);
        h.put("step_in_epoch", stepInEpoch);
        h.put("scheduler_step", schedulerStep);
        h.put("loss_scale", lossScale);   // for people reading the file; the bits below are what is read back
        h.put("loss_scale_bits", Double.doubleToRawLongBits(lossScale));
        Map<String, Object> r = new LinkedHashMap<>();
        // longs as strings: a JSON reader elsewhere may hold numbers as doubles and round them
        rngs.forEach((k, s) -> r.put(k, List.of(String.valueOf(s.s0()), String.valueOf(s.s1()), String.valueOf(s.s2()), String.valueOf(s.s3()),
                s.hasSpare() ? "1" : "0", String.valueOf(Double.doubleToRawLongBits(s.spare())))));
        h.put("rng", r);
        h.put("config", config);
        return h;
    }

    private static SafeTensorsWriter tensors(Map<String, Tensor> ts) {
        SafeTensorsWriter w = new SafeTensorsWriter().metadata("format", FORMAT);
        ts.forEach((name, t) -> w.addFloats(name, StoredType.F32, t.shape(), t.data()));
        return w;
    }

    private static Map<String, Tensor> readTensors(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(file + ": missing from the saved state");
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            for (TensorEntry e : f.tensors()) {
                if (e.type() != StoredType.F32) throw new IllegalArgumentException(file + ": tensor " + e.name() + " is " + e.type() + ", a state holds F32");
                out.put(e.name(), new Tensor(e.shape(), f.readFloats(e)));
            }
        } catch (SafeTensorsException e) {
            throw new IllegalArgumentException(file + ": corrupt: " + e.getMessage());
        }
        return out;
    }

    /** A state renamed aside by a save that crashed between its two renames, or null. */
    private static Path aside(Path dir) throws IOException {
        Path parent = dir.toAbsolutePath().normalize().getParent();
        if (parent == null || !Files.isDirectory(parent)) return null;
        List<Path> found = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(parent, dir.getFileName() + ".old-*")) {
            ds.forEach(found::add);
        }
        return found.size() == 1 ? found.getFirst() : null;
    }

    private static long longOf(Path json, Map<String, Object> h, String key) {
        return parseLong(json, key, h.get(key));
    }

    private static long parseLong(Path json, String what, Object v) {
        String text = v instanceof Json.Num n ? n.text() : v instanceof String s ? s : null;
        try {
            if (text != null) return Long.parseLong(text);
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new IllegalArgumentException(json + ": corrupt: " + what + " is " + (v == null ? "missing" : v));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> cast(Map<?, ?> m) {
        return (Map<String, Object>) m;
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to);
        }
    }

    private static void syncFolder(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException ignored) {
            // some file systems cannot sync a folder; the files themselves are synced
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
