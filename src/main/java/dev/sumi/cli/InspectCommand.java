package dev.sumi.cli;

import dev.sumi.image.Infotext;
import dev.sumi.image.PngFile;
import dev.sumi.lora.LoraInfo;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.LdmComponent;
import dev.sumi.model.ModelArchitecture;
import dev.sumi.model.ModelHashes;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.TensorEntry;
import dev.sumi.util.Bytes;
import dev.sumi.util.JsonOut;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;

/** What a checkpoint, a diffusers folder, a LoRA file or a generated PNG (its A1111 parameters) holds. */
@Command(name = "inspect", description = "Show what a checkpoint, diffusers folder, LoRA file or generated PNG (A1111's PNG Info) holds.")
public final class InspectCommand implements Callable<Integer> {

    @Parameters(paramLabel = "FILE|FOLDER", description = "A .safetensors checkpoint or LoRA, a diffusers model folder, or a PNG.")
    Path path;

    @Option(names = "--json", description = "One JSON object instead of the table.")
    boolean json;

    @Option(names = "--no-hash", description = "Skip the hashes (they read the whole file).")
    boolean noHash;

    @Option(names = "--v-pred", description = "Treat the model as v-prediction (the weights cannot tell).")
    Boolean vPred;

    @Option(names = "--ema", description = "Use the file's EMA copy of the UNet (checked for completeness).")
    boolean ema;

    @Override
    public Integer call() throws Exception {
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("path", path.toString());
        if (Files.isRegularFile(path) && path.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".png")) {
            png(report);
            return print(report);
        }
        if (Files.isRegularFile(path) && path.getFileName().toString().endsWith(".safetensors")) {
            try (SafeTensorsFile f = SafeTensorsFile.open(path)) {
                Set<String> names = new TreeSet<>();
                for (TensorEntry e : f.tensors()) names.add(e.name());
                if (LoraInfo.looksLikeLora(names)) {
                    lora(report, f);
                    return print(report);
                }
            }
        }
        try (Checkpoint c = Checkpoint.open(path, vPred, ema)) {
            checkpoint(report, c);
        }
        return print(report);
    }

    private void lora(Map<String, Object> r, SafeTensorsFile f) throws Exception {
        LoraInfo info = LoraInfo.of(f);
        r.put("kind", "LoRA");
        r.put("file_size", f.fileSize());
        r.put("format", info.format());
        r.put("network", info.networkType());
        r.put("modules", info.modulesByComponent());
        r.put("ranks", info.ranks());
        r.put("alphas", info.alphas());
        if (info.fits() != null) r.put("base", info.fits().name());
        r.put("unmatched_modules", info.unmatched());
        r.put("training", info.summary());
        r.put("metadata", info.trainingMetadata());
        hashes(r);
    }

    /** A1111's PNG Info: the text chunks, and the generation parameters read as A1111 reads them. */
    private void png(Map<String, Object> r) throws Exception {
        Map<String, String> text;
        try {
            text = PngFile.readText(Files.readAllBytes(path));
        } catch (java.io.IOException e) {
            throw new java.io.IOException(path + ": " + e.getMessage(), e);
        }
        r.put("kind", "PNG");
        r.put("file_size", Files.size(path));
        String parameters = text.get("parameters");
        if (parameters == null) {
            r.put("parameters", "(none: not an image from sumi, AUTOMATIC1111 or kohya's previews)");
        } else {
            Infotext info = Infotext.parse(parameters);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("prompt", info.prompt());
            if (!info.negativePrompt().isEmpty()) m.put("negative prompt", info.negativePrompt());
            m.put("steps", info.steps());
            m.put("sampler", info.sampler());
            m.put("cfg scale", info.cfgScale());
            m.put("seed", info.seed());
            m.put("size", info.width() + "x" + info.height());
            if (info.modelHash() != null) m.put("model hash", info.modelHash());
            if (info.modelName() != null) m.put("model", info.modelName());
            if (info.clipSkip() > 1) m.put("clip skip", info.clipSkip());
            m.putAll(info.extras());
            r.put("parameters", m);
        }
        Map<String, String> other = new LinkedHashMap<>(text);
        other.remove("parameters");
        if (!other.isEmpty()) r.put("text", other);
    }

    private void checkpoint(Map<String, Object> r, Checkpoint c) throws Exception {
        ModelArchitecture a = c.architecture();
        r.put("kind", c.layout() == Checkpoint.Layout.DIFFUSERS ? "diffusers folder" : "checkpoint");
        r.put("file_size", c.files().stream().mapToLong(SafeTensorsFile::fileSize).sum());
        r.put("family", a.family());
        r.put("prediction", c.prediction().describe());
        Map<String, Object> comps = new LinkedHashMap<>();
        c.countsByComponent().forEach((comp, n) -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("tensors", n[0]);
            m.put("parameters", n[1]);
            m.put("dtypes", dtypes(c, comp));
            comps.put(comp.description, m);
        });
        r.put("components", comps);
        r.put("ema_tensors", c.emaTensors());
        if (a.unet() != null) r.put("unet", a.unet().toString());
        if (a.vae() != null) r.put("vae", a.vae().toString());
        List<String> te = new ArrayList<>();
        for (ModelArchitecture.TextEncoder t : a.textEncoders()) te.add(t.component().description + ": " + t.config());
        r.put("text_encoders", te);
        if (c.layout() == Checkpoint.Layout.SINGLE_FILE) hashes(r);
        r.put("metadata", c.metadata());
    }

    private static List<String> dtypes(Checkpoint c, LdmComponent comp) {
        Set<String> types = new TreeSet<>();
        c.tensors().values().stream().filter(t -> t.ldmKey().startsWith(comp.prefix) && !t.ldmKey().endsWith("position_ids"))
                .forEach(t -> t.parts().forEach(p -> types.add(p.entry().type().name())));
        return new ArrayList<>(types);
    }

    private void hashes(Map<String, Object> r) throws Exception {
        if (noHash) return;
        ModelHashes h = ModelHashes.of(path);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("sha256", h.sha256());
        m.put("short", h.shortHash());
        m.put("sshs_model_hash", h.sshsModelHash());
        m.put("legacy", h.legacyHash());
        r.put("hashes", m);
    }

    @SuppressWarnings("unchecked")
    private int print(Map<String, Object> r) {
        if (json) {
            System.out.println(JsonOut.write(r));
            return 0;
        }
        for (var e : r.entrySet()) {
            Object v = e.getValue();
            String key = e.getKey().replace('_', ' ');
            if (e.getKey().equals("file_size")) {
                row(key, Bytes.human((Long) v) + " (" + v + " bytes)");
            } else if (v instanceof Map<?, ?> m && e.getKey().equals("components")) {
                ((Map<String, Map<String, Object>>) m).forEach((name, c) -> row(key, String.format(Locale.ROOT, "%-32s %5d tensors %,15d parameters  %s",
                        name, (Long) c.get("tensors"), (Long) c.get("parameters"), c.get("dtypes"))));
            } else if (v instanceof Map<?, ?> m) {
                if (m.isEmpty()) row(key, "(none)");
                m.forEach((k, x) -> row(key, k + " = " + x));
            } else if (v instanceof List<?> l && !e.getKey().equals("ranks")) {
                if (l.isEmpty()) row(key, "(none)");
                l.forEach(x -> row(key, String.valueOf(x)));
            } else {
                row(key, String.valueOf(v));
            }
        }
        return 0;
    }

    private static void row(String key, String value) {
        System.out.printf(Locale.ROOT, "%-18s %s%n", key, value);
    }
}
