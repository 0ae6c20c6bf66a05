package dev.sumi.model;

import dev.sumi.model.Checkpoint.Part;
import dev.sumi.model.Checkpoint.TensorRef;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.tensor.safetensors.Json;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.TensorEntry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * A diffusers model folder ({@code model_index.json} with {@code unet/}, {@code vae/},
 * {@code text_encoder/}, {@code text_encoder_2/}; each one {@code .safetensors} or shards listed by a
 * {@code *.safetensors.index.json}) opened as a {@link Checkpoint} under LDM keys.
 */
final class DiffusersFolder {
    private DiffusersFolder() {}

    static Checkpoint open(Path dir, Boolean vPrediction) throws IOException {
        if (!Files.isRegularFile(dir.resolve("model_index.json"))) {
            boolean component = Files.exists(dir.resolve("config.json")) || Files.exists(dir.resolve("diffusion_pytorch_model.safetensors"))
                    || Files.exists(dir.resolve("model.safetensors"));
            throw new ModelFormatException(dir + ": " + (component
                    ? "one component of a diffusers model; give the folder that holds model_index.json"
                    : "not a model folder (no model_index.json; a single-file checkpoint is a .safetensors file)"));
        }
        Map<Component, List<Path>> weights = new EnumMap<>(Component.class);
        for (var e : Checkpoint.DIFFUSERS_FOLDERS.entrySet()) {
            Path sub = dir.resolve(e.getValue());
            if (Files.isDirectory(sub)) weights.put(e.getKey(), weightFiles(sub));
        }
        if (weights.isEmpty()) throw new ModelFormatException(dir + ": no unet/, vae/ or text_encoder/ folder");

        List<SafeTensorsFile> files = new ArrayList<>();
        Map<Component, Map<String, Part>> byName = new EnumMap<>(Component.class);
        try {
            for (var e : weights.entrySet()) {
                Map<String, Part> names = new TreeMap<>();
                for (Path p : e.getValue()) {
                    SafeTensorsFile f = SafeTensorsFile.open(p);
                    files.add(f);
                    for (TensorEntry t : f.tensors()) {
                        if (names.put(t.name(), new Part(f, t, KeyMap.Transform.IDENTITY)) != null) {
                            throw new ModelFormatException(p + ": tensor " + t.name() + " also appears in another shard");
                        }
                    }
                }
                byName.put(e.getKey(), names);
            }
            Lineage lineage = lineage(dir, byName);
            Map<String, TensorRef> refs = toLdm(dir, lineage, byName);
            return Checkpoint.assemble(dir, files, refs, Map.of(), vPrediction, schedulerPrediction(dir));
        } catch (IOException | RuntimeException e) {
            files.forEach(SafeTensorsFile::close);
            throw e;
        }
    }

    /**
     * Every diffusers tensor under its LDM key; OpenCLIP's q, k and v projections become one stacked
     * tensor of three parts. Names the tables do not know are an error naming the component folder.
     */
    static Map<String, TensorRef> toLdm(Path dir, Lineage lineage, Map<Component, Map<String, Part>> byName) {
        Map<String, TensorRef> refs = new LinkedHashMap<>();
        Map<String, List<Part>> stacked = new LinkedHashMap<>();
        for (var e : byName.entrySet()) {
            for (var t : e.getValue().entrySet()) {
                String name = t.getKey();
                if (name.endsWith("position_ids")) continue;   // an old transformers buffer
                String ldm;
                KeyMap.Transform transform;
                try {
                    ldm = KeyMap.toLdm(lineage, e.getKey(), name);
                    transform = KeyMap.transformFor(lineage, e.getKey(), name);
                } catch (IllegalArgumentException ex) {
                    throw new ModelFormatException(dir.resolve(Checkpoint.DIFFUSERS_FOLDERS.get(e.getKey())) + ": " + ex.getMessage());
                }
                Part part = new Part(t.getValue().file(), t.getValue().entry(), transform);
                if (transform.kind() == KeyMap.Transform.Kind.QKV_SLICE) {
                    stacked.computeIfAbsent(ldm, k -> new ArrayList<>()).add(part);
                } else {
                    refs.put(ldm, new TensorRef(ldm, transform.ldmShape(part.entry().shape()), List.of(part)));
                }
            }
        }
        for (var s : stacked.entrySet()) {
            List<Part> parts = new ArrayList<>(s.getValue());
            parts.sort((a, b) -> Integer.compare(a.transform().part(), b.transform().part()));
            long[] shape = parts.getFirst().transform().ldmShape(parts.getFirst().entry().shape());
            for (int i = 0; i < parts.size(); i++) {
                if (parts.get(i).transform().part() != i || parts.size() != parts.get(i).transform().parts()
                        || !Arrays.equals(parts.get(i).transform().ldmShape(parts.get(i).entry().shape()), shape)) {
                    throw new ModelFormatException(dir + ": the q, k, v projections of " + s.getKey() + " are incomplete or differ in shape");
                }
            }
            refs.put(s.getKey(), new TensorRef(s.getKey(), shape, parts));
        }
        return refs;
    }

    /** The .safetensors of one component: a single file, or the shards its index names. */
    static List<Path> weightFiles(Path sub) throws IOException {
        for (String single : List.of("diffusion_pytorch_model.safetensors", "model.safetensors")) {
            if (Files.isRegularFile(sub.resolve(single))) return List.of(sub.resolve(single));
        }
        List<Path> indexes;
        try (Stream<Path> s = Files.list(sub)) {
            indexes = s.filter(p -> p.getFileName().toString().endsWith(".safetensors.index.json")).sorted().toList();
        }
        if (!indexes.isEmpty()) return shards(indexes.getFirst());
        try (Stream<Path> s = Files.list(sub)) {
            if (s.anyMatch(p -> p.getFileName().toString().endsWith(".bin"))) {
                throw new ModelFormatException(sub + ": only pickle (.bin) weights; sumi loads .safetensors only (unpickling runs code). "
                        + "Save the model with safe_serialization=True");
            }
        }
        throw new ModelFormatException(sub + ": no .safetensors weights");
    }

    @SuppressWarnings("unchecked")
    static List<Path> shards(Path index) throws IOException {
        Object root;
        try {
            root = Json.parse(Files.readString(index));
        } catch (Json.ParseException e) {
            throw new ModelFormatException(index + ": not valid JSON: " + e.getMessage());
        }
        if (!(root instanceof Map<?, ?> m) || !(m.get("weight_map") instanceof Map<?, ?> map)) {
            throw new ModelFormatException(index + ": no weight_map object");
        }
        Set<Path> files = new LinkedHashSet<>();
        for (Object v : ((Map<String, Object>) map).values()) {
            if (!(v instanceof String s) || s.contains("/") || s.contains("\\") || s.startsWith(".")) {
                throw new ModelFormatException(index + ": weight_map values must be file names next to the index, got " + v);
            }
            Path p = index.resolveSibling(s);
            if (!Files.isRegularFile(p)) throw new ModelFormatException(index + ": shard " + s + " is missing");
            files.add(p);
        }
        return new ArrayList<>(files);
    }

    /** SDXL has a second text encoder; otherwise the cross-attention width decides (768 SD 1.x, 1024 SD 2.x). */
    static Lineage lineage(Path dir, Map<Component, Map<String, Part>> byName) {
        if (byName.containsKey(Component.TEXT_ENCODER_2)) return Lineage.SDXL;
        Map<String, Part> unet = byName.get(Component.UNET);
        if (unet != null) {
            for (var e : unet.entrySet()) {
                if (e.getKey().endsWith("attn2.to_k.weight")) {
                    long ctx = e.getValue().entry().shape()[1];
                    return ctx == 2048 ? Lineage.SDXL : ctx == 1024 ? Lineage.SD2 : Lineage.SD1;
                }
            }
        }
        Map<String, Part> te = byName.get(Component.TEXT_ENCODER);
        if (te != null && te.containsKey("text_model.final_layer_norm.weight")) {
            return te.get("text_model.final_layer_norm.weight").entry().shape()[0] == 1024 ? Lineage.SD2 : Lineage.SD1;
        }
        return Lineage.SD1;
    }

    static String schedulerPrediction(Path dir) throws IOException {
        Path cfg = dir.resolve("scheduler").resolve("scheduler_config.json");
        if (!Files.isRegularFile(cfg)) return null;
        try {
            if (Json.parse(Files.readString(cfg)) instanceof Map<?, ?> m && m.get("prediction_type") instanceof String s) return s;
        } catch (Json.ParseException e) {
            throw new ModelFormatException(cfg + ": not valid JSON: " + e.getMessage());
        }
        return null;
    }
}
