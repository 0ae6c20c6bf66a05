package dev.sumi.model;

import dev.sumi.model.Checkpoint.Part;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.tensor.safetensors.SafeTensorsWriter;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.tensor.safetensors.TensorEntry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointTest {

    @TempDir
    Path dir;

    Path tiny() throws IOException {
        Path p = dir.resolve("tiny.safetensors");
        RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 7), 7, StoredType.F16, p, false);
        return p;
    }

    @Test
    void theTinyModelLoadsThroughTheRealLoader() throws IOException {
        try (Checkpoint c = Checkpoint.open(tiny(), null)) {
            assertTrue(c.architecture().family().startsWith("custom (SD 1.x"), c.architecture().family());
            assertEquals(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 7).parameters(),
                    c.countsByComponent().values().stream().mapToLong(n -> n[1]).sum());
            assertEquals(false, c.prediction().v());
            c.requireComponents();
        }
        assertTrue(Files.isRegularFile(dir.resolve("tiny.tokenizer/vocab.json")));
        assertTrue(Files.readString(dir.resolve("tiny.tokenizer/merges.txt")).startsWith("#version: 0.2\n"));
    }

    @Test
    void randomWeightsDependOnlyOnTheSeed() throws IOException {
        Path a = tiny();
        Path b = dir.resolve("again.safetensors");
        RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 7), 7, StoredType.F16, b, false);
        assertEquals(ModelHashes.of(a).sshsModelHash(), ModelHashes.of(b).sshsModelHash());
        Path c = dir.resolve("other.safetensors");
        RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 8), 8, StoredType.F16, c, false);
        assertTrue(!ModelHashes.of(a).sshsModelHash().equals(ModelHashes.of(c).sshsModelHash()));
        assertThrows(java.nio.file.FileAlreadyExistsException.class,
                () -> RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 7), 7, StoredType.F16, a, false));
    }

    @Test
    void initialisationFollowsTheReference() throws IOException {
        try (Checkpoint c = Checkpoint.open(tiny(), null)) {
            var file = c.files().getFirst();
            float[] norm = file.readFloats("model.diffusion_model.out.0.weight");
            for (float v : norm) assertEquals(1f, v);
            float[] conv = file.readFloats("model.diffusion_model.input_blocks.0.0.weight");   // fan_in 4*3*3 = 36: U(-1/6, 1/6)
            double max = 0, sum = 0;
            for (float v : conv) {
                max = Math.max(max, Math.abs(v));
                sum += v * v;
            }
            assertTrue(max <= 1 / 6.0 + 1e-3 && max > 0.15, "bound " + max);
            assertEquals(1 / (6.0 * Math.sqrt(3)), Math.sqrt(sum / conv.length), 0.01);   // std of U(-b, b) = b / sqrt 3
        }
    }

    @Test
    void sidecarYamlSelectsVPrediction() throws IOException {
        Path p = tiny();
        Files.writeString(dir.resolve("tiny.yaml"), "model:\n  params:\n    parameterization: \"v\"\n");
        try (Checkpoint c = Checkpoint.open(p, null)) {
            assertTrue(c.prediction().v(), c.prediction().describe());
        }
        try (Checkpoint c = Checkpoint.open(p, false)) {
            assertEquals(false, c.prediction().v());
        }
    }

    @Test
    void emaWeightsAreIgnoredUnlessAskedFor() throws IOException {
        Path p = dir.resolve("ema.safetensors");
        SafeTensorsWriter w = new SafeTensorsWriter();
        var specs = dev.sumi.model.unet.UNetLayout.parameters(dev.sumi.model.unet.UNetConfig.tiny(64));
        for (var s : specs) {
            w.addFloats(LdmComponent.UNET.prefix + s.name(), StoredType.F32, s.shape(), new float[(int) s.numel()]);
            float[] ones = new float[(int) s.numel()];
            Arrays.fill(ones, 1f);
            w.addFloats("model_ema.diffusion_model" + s.name().replace(".", ""), StoredType.F32, s.shape(), ones);
        }
        w.metadata("sumi.unet.heads", "4");
        w.write(p, false);
        String key = LdmComponent.UNET.prefix + "out.2.bias";
        try (Checkpoint c = Checkpoint.open(p, null)) {
            assertEquals(specs.size(), c.emaTensors());
            assertEquals(0f, c.files().getFirst().readFloats(c.tensors().get(key).parts().getFirst().entry())[0]);
        }
        try (Checkpoint c = Checkpoint.open(p, null, true)) {
            assertEquals(1f, c.files().getFirst().readFloats(c.tensors().get(key).parts().getFirst().entry())[0]);
        }
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Checkpoint.open(tiny(), null, true));
        assertTrue(e.getMessage().contains("no EMA weights"), e.getMessage());
    }

    @Test
    void picklesAreRefusedWithHowToConvert() throws IOException {
        Path ckpt = Files.writeString(dir.resolve("model.ckpt"), "PK");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Checkpoint.open(ckpt, null));
        assertTrue(e.getMessage().startsWith(ckpt.toString()) && e.getMessage().contains("Convert"), e.getMessage());
    }

    @Test
    void foldersThatAreNotModelsAreNamed() throws IOException {
        Path empty = Files.createDirectory(dir.resolve("photos"));
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Checkpoint.open(empty, null));
        assertTrue(e.getMessage().startsWith(empty + ": not a model folder"), e.getMessage());
        Path unet = Files.createDirectory(dir.resolve("unet"));
        Files.writeString(unet.resolve("config.json"), "{}");
        e = assertThrows(ModelFormatException.class, () -> Checkpoint.open(unet, null));
        assertTrue(e.getMessage().contains("one component of a diffusers model"), e.getMessage());
        Path pickled = Files.createDirectory(dir.resolve("pickled"));
        Files.writeString(pickled.resolve("model_index.json"), "{}");
        Files.createDirectory(pickled.resolve("unet"));
        Files.writeString(pickled.resolve("unet/diffusion_pytorch_model.bin"), "x");
        e = assertThrows(ModelFormatException.class, () -> Checkpoint.open(pickled, null));
        assertTrue(e.getMessage().contains("pickle"), e.getMessage());
    }

    @Test
    void aCheckpointMissingAComponentIsRefusedForUse() throws IOException {
        Path p = dir.resolve("unet-only.safetensors");
        SafeTensorsWriter w = new SafeTensorsWriter();
        for (var s : dev.sumi.model.unet.UNetLayout.parameters(dev.sumi.model.unet.UNetConfig.tiny(64))) {
            w.add(LdmComponent.UNET.prefix + s.name(), StoredType.F16, s.shape(), dst -> dst.fill((byte) 0));
        }
        w.metadata("sumi.unet.heads", "4");
        w.write(p, false);
        try (Checkpoint c = Checkpoint.open(p, null)) {
            ModelFormatException e = assertThrows(ModelFormatException.class, c::requireComponents);
            assertEquals(p + ": no VAE (first_stage_model.*) and no text encoder (cond_stage_model.* or conditioner.*)", e.getMessage());
        }
    }

    @Test
    void shardedComponentsAreFollowedThroughTheirIndex() throws IOException {
        Path sub = Files.createDirectories(dir.resolve("model/text_encoder"));
        new SafeTensorsWriter().addFloats("a", StoredType.F32, new long[] {1}, new float[] {1}).write(sub.resolve("model-00001-of-00002.safetensors"), false);
        new SafeTensorsWriter().addFloats("b", StoredType.F32, new long[] {1}, new float[] {2}).write(sub.resolve("model-00002-of-00002.safetensors"), false);
        Files.writeString(sub.resolve("model.safetensors.index.json"),
                "{\"metadata\":{\"total_size\":8},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        assertEquals(2, DiffusersFolder.weightFiles(sub).size());
        Files.writeString(sub.resolve("model.safetensors.index.json"), "{\"weight_map\":{\"a\":\"../../etc/passwd\"}}");
        assertThrows(ModelFormatException.class, () -> DiffusersFolder.weightFiles(sub));
    }

    /** diffusers tensor lists of the real pipelines (from the oracle), mapped to LDM keys and recognised. */
    @ParameterizedTest
    @CsvSource({"sd15, SD1, SD 1.x", "sd21, SD2, SD 2.x", "sdxl, SDXL, SDXL base"})
    void diffusersNamesMapToARecognisedCheckpoint(String family, Lineage lineage, String expected) throws IOException {
        Map<Component, Map<String, Part>> byName = new EnumMap<>(Component.class);
        for (Component c : Component.values()) {
            String file = family + "-" + c.name().toLowerCase() + ".diffusers.txt";
            try (InputStream in = getClass().getResourceAsStream("/keys/" + file)) {
                if (in == null) continue;
                Map<String, Part> m = new TreeMap<>();
                BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                for (String line; (line = r.readLine()) != null; ) {
                    String[] f = line.split("\t", -1);
                    long[] shape = f[1].isEmpty() ? new long[0] : Arrays.stream(f[1].split(",")).mapToLong(Long::parseLong).toArray();
                    long bytes = 2 * Arrays.stream(shape).reduce(1, Math::multiplyExact);
                    m.put(f[0], new Part(null, new TensorEntry(f[0], StoredType.F16, shape, 0, bytes), KeyMap.Transform.IDENTITY));
                }
                byName.put(c, m);
            }
        }
        assertEquals(lineage, DiffusersFolder.lineage(dir, byName));
        Map<String, Checkpoint.TensorRef> refs = DiffusersFolder.toLdm(dir, lineage, byName);
        Map<String, long[]> shapes = new TreeMap<>();
        refs.forEach((k, v) -> shapes.put(k, v.shape()));
        ModelArchitecture a = ArchitectureDetector.detect(shapes, Map.of(), family);
        assertEquals(expected, a.family());
    }
}
