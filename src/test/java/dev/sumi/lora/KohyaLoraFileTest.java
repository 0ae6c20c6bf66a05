package dev.sumi.lora;

import dev.sumi.lora.A1111LoraNames.Modules;
import dev.sumi.lora.A1111LoraNames.Target;
import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.model.ModelFormatException;
import dev.sumi.model.ModelHashes;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.SafeTensorsWriter;
import dev.sumi.tensor.safetensors.StoredConvert;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.tensor.safetensors.TensorEntry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KohyaLoraFileTest {

    @TempDir
    Path dir;

    static final Modules SD1 = A1111LoraNames.standard(Lineage.SD1);

    /** A LoRA on every Linear and Conv module of SD 1.5 kohya can name (LoRA + LoCon), rank 1, random values. */
    static List<LoraTensors> fullSd15(int rank, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        List<LoraTensors> modules = new ArrayList<>();
        for (String name : new TreeSet<>(KohyaNames.modules(Lineage.SD1))) {
            Target t = A1111LoraNames.resolve(name, SD1);
            if (t == null || t.module().kind() == A1111LoraNames.Kind.OTHER) continue;
            long[] w = t.adaptedShape();
            boolean conv = w.length == 4;
            long[] down = conv ? new long[] {rank, w[1], w[2], w[3]} : new long[] {rank, w[1]};
            long[] up = conv ? new long[] {w[0], rank, 1, 1} : new long[] {w[0], rank};
            modules.add(new LoraTensors(name, random(rng, down), down, random(rng, up), up, rank / 2f));
        }
        return modules;
    }

    static float[] random(SplittableRandom rng, long[] shape) {
        float[] v = new float[(int) LoraTensors.numel(shape)];
        for (int i = 0; i < v.length; i++) v[i] = (float) rng.nextDouble(-0.1, 0.1);
        return v;
    }

    static KohyaLoraMetadata metadata() {
        return KohyaLoraMetadata.builder(Lineage.SD1).outputName("sumi-test").network("networks.lora", 1, 0.5).convDimAlpha(1, "0.5")
                .progress(2, 3, 40).learningRates(1e-4, null, 5e-5).times(1732580000.25, 1732583600.5)
                .tagFrequency(Map.of("10_sumi", Map.of("sumi style", 20))).datasetDirs(Map.of("10_sumi", new KohyaLoraMetadata.DatasetDir(10, 20)))
                .build();
    }

    static float[] rounded(float[] v, StoredType type) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate((long) v.length * type.byteSize());
            StoredConvert.fromFloats(v, s, type);
            float[] out = new float[v.length];
            StoredConvert.toFloats(s, type, out);
            return out;
        }
    }

    @Test
    void aFullSizeSd15LoraRoundTripsAndCarriesKohyasHashes() throws IOException {
        List<LoraTensors> modules = fullSd15(1, 7);
        // 192 UNet attention/proj/ff + 72 CLIP-L (kohya's LoRA), 66 resnet conv1/conv2/time_emb_proj, 14 skip convs,
        // 3 + 3 down/upsamplers, conv_in, conv_out and 2 time-embedding Linears (LoCon and beyond)
        assertEquals(354, modules.size());
        Path out = dir.resolve("full.safetensors");
        KohyaLoraFile.Hashes hashes = KohyaLoraFile.write(out, modules, metadata(), DType.F16, SD1, false);

        KohyaLoraFile.Contents back = KohyaLoraFile.read(out);
        assertEquals(List.of(), back.otherKeys());
        assertEquals(modules.size(), back.modules().size());
        for (int i = 0; i < modules.size(); i++) {   // both in name order
            LoraTensors a = modules.get(i), b = back.modules().get(i);
            assertEquals(a.kohyaName(), b.kohyaName());
            assertArrayEquals(a.downShape(), b.downShape());
            assertArrayEquals(a.upShape(), b.upShape());
            assertArrayEquals(rounded(a.down(), StoredType.F16), b.down(), a.kohyaName());
            assertArrayEquals(rounded(a.up(), StoredType.F16), b.up(), a.kohyaName());
            assertEquals(a.alpha(), b.alpha());
        }
        Map<String, String> md = back.metadata();
        assertEquals(hashes.modelHash(), md.get("sshs_model_hash"));
        assertEquals(hashes.legacyHash(), md.get("sshs_legacy_hash"));
        assertEquals("networks.lora", md.get("ss_network_module"));
        assertEquals("{\"conv_dim\": \"1\", \"conv_alpha\": \"0.5\"}", md.get("ss_network_args"));
        assertEquals("stable-diffusion-v1/lora", md.get("modelspec.architecture"));

        try (SafeTensorsFile f = SafeTensorsFile.open(out)) {
            List<String> keys = f.tensors().stream().map(TensorEntry::name).toList();
            assertEquals(keys.stream().sorted().toList(), keys, "kohya's (safetensors') order: by name");
            for (TensorEntry e : f.tensors()) {
                assertEquals(StoredType.F16, e.type(), e.name());
                if (e.name().endsWith(".alpha")) assertEquals(0, e.rank(), e.name());
            }
            // sshs_model_hash: sha256 of the data area, which metadata does not change
            assertEquals(ModelHashes.of(out).sshsModelHash(), hashes.modelHash());
            // sshs_legacy_hash: of the same data behind a header with only the ss_* metadata
            SafeTensorsWriter ssOnly = new SafeTensorsWriter();
            md.forEach((k, v) -> { if (k.startsWith("ss_")) ssOnly.metadata(k, v); });
            for (TensorEntry e : f.tensors()) ssOnly.addSegment(e.name(), e.type(), e.shape(), f.data(e));
            Path twin = dir.resolve("ss-only.safetensors");
            ssOnly.write(twin, false);
            assertTrue(Files.size(twin) > 0x110000, "the legacy window lies inside the data");
            assertEquals(ModelHashes.of(twin).legacyHash(), hashes.legacyHash());
        }
        // for scripts/golden-kohya-lora check (real safetensors and kohya's hash code): a copy under target/
        Path forPython = Path.of("target", "kohya-lora-check");
        Files.createDirectories(forPython);
        Files.copy(out, forPython.resolve("sumi_sd15_full.safetensors"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    @Test
    void bf16AndF32StoreEverythingInThatType() throws IOException {
        List<LoraTensors> few = fullSd15(2, 3).subList(0, 5);
        for (DType t : List.of(DType.BF16, DType.F32)) {
            Path out = dir.resolve(t + ".safetensors");
            KohyaLoraFile.write(out, few, metadata(), t, SD1, false);
            try (SafeTensorsFile f = SafeTensorsFile.open(out)) {
                for (TensorEntry e : f.tensors()) assertEquals(StoredType.of(t), e.type(), e.name());
            }
            assertArrayEquals(rounded(few.get(0).down(), StoredType.of(t)), KohyaLoraFile.read(out).modules().get(0).down());
        }
        assertThrows(IllegalArgumentException.class, () -> KohyaLoraFile.write(dir.resolve("i.safetensors"), few, metadata(), DType.I32, SD1, false));
    }

    @Test
    void anExistingFileIsReplacedOnlyWhenAsked() throws IOException {
        List<LoraTensors> few = fullSd15(1, 5).subList(0, 3);
        Path out = dir.resolve("mine.safetensors");
        Files.writeString(out, "a user's file");
        assertThrows(FileAlreadyExistsException.class, () -> KohyaLoraFile.write(out, few, metadata(), DType.F16, SD1, false));
        assertEquals("a user's file", Files.readString(out));
        KohyaLoraFile.write(out, few, metadata(), DType.F16, SD1, true);
        assertEquals(3, KohyaLoraFile.read(out).modules().size());
    }

    @Test
    void aFileThatFailsTheCheckIsNeverPublished() throws IOException {
        List<LoraTensors> modules = new ArrayList<>(fullSd15(1, 9).subList(0, 3));
        LoraTensors first = modules.get(0);
        float[] down = first.down().clone();
        down[1] = Float.NaN;
        modules.set(0, new LoraTensors(first.kohyaName(), down, first.downShape(), first.up(), first.upShape(), first.alpha()));
        Path out = dir.resolve("nan.safetensors");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> KohyaLoraFile.write(out, modules, metadata(), DType.F16, SD1, false));
        assertEquals(out.toAbsolutePath() + ": key '" + first.kohyaName() + ".lora_down.weight': element 1 is NaN", e.getMessage());
        assertFalse(Files.exists(out));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(), files.toList(), "no temporary file left behind");
        }
    }

    // ---- the checker on mutated files ----------------------------------------------------------------------------

    /** Writes a checked-valid file with SafeTensorsWriter, after {@code mutate} changed its tensors. */
    private Path mutant(String name, Consumer<Map<String, Object[]>> mutate) throws IOException {
        Map<String, Object[]> tensors = new java.util.TreeMap<>();   // key -> {shape, values}
        for (LoraTensors m : fullSd15(1, 11).subList(0, 4)) {
            tensors.put(m.kohyaName() + ".lora_down.weight", new Object[] {m.downShape(), m.down()});
            tensors.put(m.kohyaName() + ".lora_up.weight", new Object[] {m.upShape(), m.up()});
            tensors.put(m.kohyaName() + ".alpha", new Object[] {new long[0], new float[] {1}});
        }
        mutate.accept(tensors);
        SafeTensorsWriter w = new SafeTensorsWriter();
        tensors.forEach((k, v) -> w.addFloats(k, StoredType.F16, (long[]) v[0], (float[]) v[1]));
        Path p = dir.resolve(name + ".safetensors");
        w.write(p, false);
        return p;
    }

    private void rejected(String name, Consumer<Map<String, Object[]>> mutate, String expected) throws IOException {
        Path p = mutant(name, mutate);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> A1111LoraCheck.check(p, SD1));
        assertEquals(p + ": " + expected, e.getMessage());
    }

    @Test
    void theUnmutatedFilePasses() throws IOException {
        Map<String, Target> targets = A1111LoraCheck.check(mutant("ok", t -> {}), SD1);
        assertEquals(4, targets.size());
    }

    @Test
    void mutationsAreRejectedNamingTheFirstBadKey() throws IOException {
        String first = fullSd15(1, 11).get(0).kohyaName();   // lora_te_text_model_encoder_layers_0_mlp_fc1: [3072, 768]
        assertEquals("lora_te_text_model_encoder_layers_0_mlp_fc1", first);
        rejected("unknown", t -> t.put("lora_unet_made_up_module.alpha", new Object[] {new long[0], new float[] {1}}),
                "key 'lora_unet_made_up_module.alpha': module 'lora_unet_made_up_module' maps onto no module of SD 1.x by AUTOMATIC1111's rules"
                        + " (looked up as 'lora_unet_made_up_module')");
        rejected("shape", t -> t.put(first + ".lora_down.weight", new Object[] {new long[] {1, 769}, new float[769]}),
                "key '" + first + ".lora_down.weight': shape [1, 769], expected [r, 768] or [r, 768, 1, 1] for "
                        + "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight [3072, 768]");
        rejected("rank", t -> t.put(first + ".lora_up.weight", new Object[] {new long[] {3072, 2}, new float[6144]}),
                "key '" + first + ".lora_up.weight': shape [3072, 2], expected [3072, 1] or [3072, 1, 1, 1] for "
                        + "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight [3072, 768]");
        rejected("nan", t -> ((float[]) t.get(first + ".lora_up.weight")[1])[5] = Float.POSITIVE_INFINITY,
                "key '" + first + ".lora_up.weight': element 5 is Infinity");
        rejected("missing-up", t -> t.remove(first + ".lora_up.weight"),
                "key '" + first + ".lora_up.weight': missing: every module needs lora_down.weight, lora_up.weight and alpha");
        rejected("alpha", t -> t.put(first + ".alpha", new Object[] {new long[] {1}, new float[] {1}}),
                "key '" + first + ".alpha': shape [1], expected a 0-d scalar");
        rejected("part", t -> t.put(first + ".hada_w1_a", new Object[] {new long[] {1}, new float[] {1}}),
                "key '" + first + ".hada_w1_a': unexpected part 'hada_w1_a' (kohya LoRA keys end in .lora_down.weight, .lora_up.weight or .alpha)");
        rejected("norm", t -> t.put("lora_unet_down_blocks_0_resnets_0_norm1.alpha", new Object[] {new long[0], new float[] {1}}),
                "key 'lora_unet_down_blocks_0_resnets_0_norm1.alpha': module 'lora_unet_down_blocks_0_resnets_0_norm1' maps onto "
                        + "model.diffusion_model.input_blocks.1.0.in_layers.0.weight [320], which is not a Linear, Conv2d or MultiheadAttention weight: LoRA cannot adapt it");
    }

    @Test
    void aConvModuleNeedsTheConvsKernel() throws IOException {
        String conv = "lora_unet_down_blocks_1_resnets_0_conv1";   // input_blocks.4.0.in_layers.2: [640, 320, 3, 3]
        Path p = mutant("conv", t -> {
            t.put(conv + ".lora_down.weight", new Object[] {new long[] {2, 320, 1, 1}, new float[640]});
            t.put(conv + ".lora_up.weight", new Object[] {new long[] {640, 2, 1, 1}, new float[1280]});
            t.put(conv + ".alpha", new Object[] {new long[0], new float[] {1}});
        });
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> A1111LoraCheck.check(p, SD1));
        assertEquals(p + ": key '" + conv + ".lora_down.weight': shape [2, 320, 1, 1], expected [r, 320, 3, 3] for "
                + "model.diffusion_model.input_blocks.4.0.in_layers.2.weight [640, 320, 3, 3]", e.getMessage());
    }

    /** An SDXL file in other tools' habits: LDM-style UNet names, te1/te2, one module without alpha, a LyCORIS key. */
    @Test
    void readsOthersSdxlFilesAndReportsWhatMatchesNothing() throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        String unet = "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q", te2 = "lora_te2_text_model_encoder_layers_0_self_attn_q_proj";
        w.addFloats(unet + ".lora_down.weight", StoredType.BF16, new long[] {2, 640}, new float[1280]);
        w.addFloats(unet + ".lora_up.weight", StoredType.BF16, new long[] {640, 2}, new float[1280]);
        w.addFloats(unet + ".alpha", StoredType.BF16, new long[0], new float[] {1});
        w.addFloats(te2 + ".lora_down.weight", StoredType.F32, new long[] {8, 1280}, new float[8 * 1280]);
        w.addFloats(te2 + ".lora_up.weight", StoredType.F32, new long[] {1280, 8}, new float[8 * 1280]);
        w.addFloats("lora_unet_nowhere.lora_down.weight", StoredType.F16, new long[] {1, 4}, new float[4]);
        w.addFloats("lora_unet_nowhere.lora_up.weight", StoredType.F16, new long[] {4, 1}, new float[4]);
        w.addFloats(unet + ".dora_scale", StoredType.F16, new long[] {1, 640}, new float[640]);
        Path p = dir.resolve("xl.safetensors");
        w.write(p, false);
        KohyaLoraFile.Contents c = KohyaLoraFile.read(p);
        assertEquals(List.of(unet + ".alpha", unet + ".dora_scale", unet + ".lora_down.weight", unet + ".lora_up.weight"), c.otherKeys(),
                "a DoRA module is not plain LoRA");
        assertEquals(List.of(te2, "lora_unet_nowhere"), c.modules().stream().map(LoraTensors::kohyaName).toList());
        assertEquals(8f, c.modules().get(0).alpha(), "no alpha: A1111 scales by 1, alpha = rank");
        Modules xl = A1111LoraNames.standard(Lineage.SDXL);
        assertEquals(Map.of("lora_unet_nowhere.lora_down.weight", "lora_unet_nowhere", "lora_unet_nowhere.lora_up.weight", "lora_unet_nowhere"),
                A1111LoraNames.unmatchedKeys(List.of("lora_unet_nowhere.lora_down.weight", "lora_unet_nowhere.lora_up.weight",
                        unet + ".lora_down.weight", te2 + ".lora_up.weight"), xl));
    }

    // ---- files made by kohya's code ------------------------------------------------------------------------------

    /** Element i of module m of the fixture (scripts/golden-kohya-lora values()): exact in fp16. */
    static float fixtureValue(int m, int i) {
        return (float) (Math.floorMod(i * 37L + m * 11L, 101) - 50) / 64;
    }

    @Test
    void readsTheKohyaFixtureAndWritesTheSameBytesAndHashes() throws IOException {
        Path fixture = Path.of("src/test/resources/golden/kohya_lora_sd15.safetensors");
        KohyaLoraFile.Contents c = KohyaLoraFile.read(fixture);
        assertEquals(9, c.modules().size());
        assertEquals(List.of(), c.otherKeys());
        assertEquals(Map.of(), A1111LoraNames.unmatchedKeys(c.modules().stream().map(LoraTensors::kohyaName).toList(), SD1));
        A1111LoraCheck.check(fixture, SD1);
        List<String> order = List.of(   // the script's module order m
                "lora_te_text_model_encoder_layers_0_self_attn_q_proj", "lora_te_text_model_encoder_layers_11_mlp_fc2",
                "lora_unet_down_blocks_0_attentions_0_proj_in", "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k",
                "lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj", "lora_unet_up_blocks_3_attentions_2_proj_out",
                "lora_unet_down_blocks_1_resnets_0_conv1", "lora_unet_up_blocks_0_upsamplers_0_conv", "lora_unet_down_blocks_1_resnets_0_conv_shortcut");
        for (LoraTensors t : c.modules()) {
            int m = order.indexOf(t.kohyaName());
            for (int i = 0; i < t.down().length; i++) assertEquals(fixtureValue(2 * m, i), t.down()[i], t.kohyaName());
            for (int i = 0; i < t.up().length; i++) assertEquals(fixtureValue(2 * m + 1, i), t.up()[i], t.kohyaName());
            assertEquals(t.isConv() && t.rank() == 2 ? 1f : 2f, t.alpha(), t.kohyaName());
        }
        assertEquals("4", c.metadata().get("ss_network_dim"));

        // sumi's writer, given the same modules and metadata, computes kohya's hashes and the same data bytes
        Map<String, String> md = new java.util.LinkedHashMap<>(c.metadata());
        md.remove("sshs_model_hash");
        md.remove("sshs_legacy_hash");
        Path again = dir.resolve("again.safetensors");
        KohyaLoraFile.Hashes h = KohyaLoraFile.write(again, c.modules(), md, DType.F16, SD1, false);
        assertEquals(c.metadata().get("sshs_model_hash"), h.modelHash());
        assertEquals(c.metadata().get("sshs_legacy_hash"), h.legacyHash());
        try (SafeTensorsFile a = SafeTensorsFile.open(fixture); SafeTensorsFile b = SafeTensorsFile.open(again)) {
            assertEquals(a.tensors().stream().map(TensorEntry::name).toList(), b.tensors().stream().map(TensorEntry::name).toList());
            for (TensorEntry e : a.tensors()) {
                assertEquals(-1, a.data(e).mismatch(b.data(b.get(e.name()))), e.name());
                assertEquals(e.begin(), b.get(e.name()).begin(), e.name());
            }
        }
    }
}
