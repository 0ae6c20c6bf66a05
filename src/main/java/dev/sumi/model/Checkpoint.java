package dev.sumi.model;

import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.tensor.safetensors.SafeTensorsException;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.TensorEntry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * A base model opened for use: a single-file LDM checkpoint (A1111 style) or a diffusers folder,
 * memory-mapped, never read whole. Every tensor is addressed by its LDM key; a diffusers folder's
 * names are converted once, by {@link KeyMap}. What the model is comes from
 * {@link ArchitectureDetector}; whether it predicts noise or velocity from {@link Prediction}.
 */
public final class Checkpoint implements AutoCloseable {

    /** Where one LDM tensor's data lies: one part, or OpenCLIP's q, k and v stacked from three. */
    public record Part(SafeTensorsFile file, TensorEntry entry, KeyMap.Transform transform) {}

    public record TensorRef(String ldmKey, long[] shape, List<Part> parts) {}

    public enum Layout { SINGLE_FILE, DIFFUSERS }

    private final Path path;
    private final Layout layout;
    private final List<SafeTensorsFile> files;
    private final Map<String, TensorRef> tensors;   // LDM key -> data
    private final Map<String, String> metadata;
    private final ModelArchitecture architecture;
    private final Prediction prediction;
    private final int emaTensors;

    private Checkpoint(Path path, Layout layout, List<SafeTensorsFile> files, Map<String, TensorRef> tensors,
                       Map<String, String> metadata, ModelArchitecture architecture, Prediction prediction, int emaTensors) {
        this.path = path;
        this.layout = layout;
        this.files = files;
        this.tensors = tensors;
        this.metadata = metadata;
        this.architecture = architecture;
        this.prediction = prediction;
        this.emaTensors = emaTensors;
    }

    /**
     * Opens {@code path}: a {@code .safetensors} file or a diffusers folder. {@code vPrediction} forces
     * v-prediction (the weights cannot tell); null lets a sidecar .yaml or the scheduler config decide.
     */
    public static Checkpoint open(Path path, Boolean vPrediction) throws IOException {
        return open(path, vPrediction, false);
    }

    /**
     * As {@link #open(Path, Boolean)}; with {@code useEma} the UNet's weights come from the file's EMA copy
     * ({@code model_ema.*}, LDM's LitEma names: the module path with its dots removed).
     */
    public static Checkpoint open(Path path, Boolean vPrediction, boolean useEma) throws IOException {
        if (Files.isDirectory(path)) {
            if (useEma) throw new ModelFormatException(path + ": a diffusers folder has no EMA copy");
            return DiffusersFolder.open(path, vPrediction);
        }
        if (!Files.exists(path)) throw new ModelFormatException(path + ": no such file or folder");
        String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".ckpt") || name.endsWith(".pt") || name.endsWith(".pth") || name.endsWith(".bin")) {
            throw new ModelFormatException(path + ": a pickle checkpoint; sumi does not load pickles because unpickling runs code from the file. "
                    + "Convert it to .safetensors first (e.g. A1111's Checkpoint Merger with 'safetensors', or kohya's tools)");
        }
        SafeTensorsFile file = SafeTensorsFile.open(path);
        try {
            Map<String, TensorRef> refs = new LinkedHashMap<>();
            Map<String, long[]> shapes = new TreeMap<>();
            int ema = 0;
            for (TensorEntry e : file.tensors()) {
                if (e.name().startsWith(LdmComponent.EMA_PREFIX)) {
                    ema++;
                    continue;
                }
                refs.put(e.name(), new TensorRef(e.name(), e.shape(), List.of(new Part(file, e, KeyMap.Transform.IDENTITY))));
                shapes.put(e.name(), e.shape());
            }
            if (useEma) useEmaWeights(path, file, refs);
            ModelArchitecture arch = ArchitectureDetector.detect(shapes, file.metadata(), path.toString());
            Prediction p = Prediction.decide(path, vPrediction, arch.lineage());
            return new Checkpoint(path, Layout.SINGLE_FILE, List.of(file), refs, file.metadata(), arch, p, ema);
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    private static void useEmaWeights(Path path, SafeTensorsFile file, Map<String, TensorRef> refs) {
        if (file.tensors().stream().noneMatch(e -> e.name().startsWith(LdmComponent.EMA_PREFIX))) {
            throw new ModelFormatException(path + ": --ema asked for, but the file has no EMA weights (model_ema.*)");
        }
        for (TensorRef r : List.copyOf(refs.values())) {
            if (!r.ldmKey().startsWith(LdmComponent.UNET.prefix)) continue;
            String ema = LdmComponent.EMA_PREFIX + r.ldmKey().substring("model.".length()).replace(".", "");
            if (!file.contains(ema)) throw new ModelFormatException(path + ": the EMA copy lacks " + ema + " (for " + r.ldmKey() + ")");
            try {
                TensorEntry e = file.get(ema);
                if (!java.util.Arrays.equals(e.shape(), r.shape())) throw new ModelFormatException(path + ": " + ema + " has another shape than " + r.ldmKey());
                refs.put(r.ldmKey(), new TensorRef(r.ldmKey(), r.shape(), List.of(new Part(file, e, KeyMap.Transform.IDENTITY))));
            } catch (SafeTensorsException ex) {
                throw new ModelFormatException(ex.getMessage());
            }
        }
    }

    static Checkpoint assemble(Path path, List<SafeTensorsFile> files, Map<String, TensorRef> refs, Map<String, String> metadata,
                               Boolean vPrediction, String schedulerPrediction) {
        Map<String, long[]> shapes = new TreeMap<>();
        refs.forEach((k, r) -> shapes.put(k, r.shape()));
        ModelArchitecture arch = ArchitectureDetector.detect(shapes, metadata, path.toString());
        Prediction p = vPrediction != null ? Prediction.of(vPrediction, "--v-pred flag")
                : schedulerPrediction != null ? Prediction.of(schedulerPrediction.equals("v_prediction"), "scheduler/scheduler_config.json")
                : Prediction.decide(path, null, arch.lineage());
        return new Checkpoint(path, Layout.DIFFUSERS, files, refs, metadata, arch, p, 0);
    }

    public Path path() {
        return path;
    }

    /** Fails, naming what is missing, unless the model has a UNet, a VAE and its text encoder(s): what training needs. */
    public void requireComponents() {
        java.util.List<String> missing = new ArrayList<>();
        if (architecture.unet() == null) missing.add("no UNet (model.diffusion_model.*)");
        if (architecture.vae() == null) missing.add("no VAE (first_stage_model.*)");
        if (architecture.textEncoders().isEmpty()) missing.add("no text encoder (cond_stage_model.* or conditioner.*)");
        else if (architecture.lineage() == Lineage.SDXL && architecture.textEncoders().size() < 2) missing.add("only one of SDXL's two text encoders");
        if (!missing.isEmpty()) throw new ModelFormatException(path + ": " + String.join(" and ", missing));
    }

    public Layout layout() {
        return layout;
    }

    public ModelArchitecture architecture() {
        return architecture;
    }

    public Prediction prediction() {
        return prediction;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensors of the EMA copy the file holds (ignored: training and sampling use the main weights). */
    public int emaTensors() {
        return emaTensors;
    }

    public Map<String, TensorRef> tensors() {
        return tensors;
    }

    public List<SafeTensorsFile> files() {
        return files;
    }

    /** Parameters and tensors per component (LDM prefix), in component order. */
    public Map<LdmComponent, long[]> countsByComponent() {
        Map<LdmComponent, long[]> counts = new LinkedHashMap<>();
        for (LdmComponent c : LdmComponent.values()) {
            long params = 0, n = 0;
            for (TensorRef r : tensors.values()) {
                if (!r.ldmKey().startsWith(c.prefix) || r.ldmKey().endsWith("position_ids")) continue;
                long numel = 1;
                for (long d : r.shape()) numel = Math.multiplyExact(numel, d);
                params += numel;
                n++;
            }
            if (n > 0) counts.put(c, new long[] {n, params});
        }
        return counts;
    }

    @Override
    public void close() {
        for (SafeTensorsFile f : files) f.close();
    }

    /** The diffusers components sumi reads, with the sub-folder each lives in. */
    static final Map<Component, String> DIFFUSERS_FOLDERS = Map.of(
            Component.UNET, "unet", Component.VAE, "vae", Component.TEXT_ENCODER, "text_encoder", Component.TEXT_ENCODER_2, "text_encoder_2");

    static List<SafeTensorsFile> openAll(List<Path> paths) throws SafeTensorsException {
        List<SafeTensorsFile> out = new ArrayList<>();
        try {
            for (Path p : paths) out.add(SafeTensorsFile.open(p));
        } catch (SafeTensorsException | RuntimeException e) {
            out.forEach(SafeTensorsFile::close);
            throw e;
        }
        return out;
    }
}
