package dev.sumi.lora;

import dev.sumi.lora.InferenceLoras.Applied;
import dev.sumi.lora.InferenceLoras.Combined;
import dev.sumi.lora.InferenceLoras.FileReport;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.LdmComponent;
import dev.sumi.model.ModelArchitecture;
import dev.sumi.ops.LoraOps;
import dev.sumi.model.ModelHashes;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.model.clip.TextEncoder;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNet;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.SafeTensorsWriter;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.tensor.safetensors.TensorEntry;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Several kohya files combined into one module per layer (ranks concatenated) against the independent route: the
 * same files merged into the checkpoint's weights (W + sum_i s_i up_i down_i), base model frozen, through the whole
 * tiny UNet and text encoder (F32, host); and what the per-file reports say.
 */
class InferenceLorasTest {
    static final int B = 1, H = 8, W = 8, T = 4;

    @TempDir
    static Path dir;
    static Path baseFile;
    static Checkpoint base;
    static ModelArchitecture arch;

    @BeforeAll
    static void setUp() throws Exception {
        baseFile = dir.resolve("tiny.safetensors");
        RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 1), 1, StoredType.F32, baseFile, false);
        base = Checkpoint.open(baseFile, null);
        arch = base.architecture();
    }

    @AfterAll
    static void tearDown() {
        if (base != null) base.close();
    }

    /** A kohya network for the tiny model with every down and up drawn at random. */
    static LoraNetwork randomNetwork(LoraOptions o, long seed) {
        LoraNetwork n = LoraNetwork.create(o, arch.lineage(), arch.unet(), arch.textEncoders().getFirst().config());
        Random r = new Random(seed);
        for (LoraModule m : n.modules()) n.set(m.kohyaName(), random(r, (int) m.downCount(), 0.3), random(r, (int) m.upCount(), 0.3));
        return n;
    }

    static float[] random(Random r, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return v;
    }

    static Path write(String name, LoraNetwork n) throws Exception {
        Path out = dir.resolve(name + ".safetensors");
        KohyaLoraFile.write(out, List.copyOf(n.export().values()), Map.of("ss_output_name", name), DType.F32, A1111LoraNames.of(arch), true);
        return out;
    }

    /** The base checkpoint with s up down added to each module's weight: what A1111 computes. */
    static Path merged(String name, Map<LoraNetwork, Applied> loras) throws Exception {
        Map<String, float[]> deltas = new LinkedHashMap<>();
        for (var e : loras.entrySet()) {
            for (LoraModule m : e.getKey().modules()) {
                float mult = e.getValue().multiplier(m.component());
                String prefix = m.component() == Component.UNET ? LdmComponent.UNET.prefix : arch.textEncoders().getFirst().component().prefix;
                float[] d = deltas.computeIfAbsent(prefix + m.site().weight(), k -> new float[Math.toIntExact(m.out() * (m.downCount() / m.rank()))]);
                LoraTensors t = e.getKey().export().get(m.kohyaName());
                int fanIn = (int) (m.downCount() / m.rank());
                double s = mult * (double) m.alpha() / m.rank();
                for (int o = 0; o < m.out(); o++) {
                    for (int i = 0; i < fanIn; i++) {
                        double sum = 0;
                        for (int k = 0; k < m.rank(); k++) sum += (double) t.up()[o * m.rank() + k] * t.down()[k * fanIn + i];
                        d[o * fanIn + i] += (float) (s * sum);
                    }
                }
            }
        }
        Path out = dir.resolve(name + ".safetensors");
        SafeTensorsWriter w = new SafeTensorsWriter();
        try (SafeTensorsFile f = SafeTensorsFile.open(baseFile)) {
            f.metadata().forEach(w::metadata);
            for (TensorEntry e : f.tensors()) {
                float[] v = f.readFloats(e);
                float[] d = deltas.remove(e.name());
                if (d != null) for (int i = 0; i < v.length; i++) v[i] += d[i];
                w.addFloats(e.name(), StoredType.F32, e.shape(), v);
            }
        }
        assertTrue(deltas.isEmpty(), "every module lands on a checkpoint weight: " + deltas.keySet());
        w.write(out, true);
        return out;
    }

    record Outputs(float[] unet, float[] text) {}

    static Outputs run(Checkpoint c, Adapters unetAdapters, Adapters textAdapters) {
        var host = Devices.host();
        Random r = new Random(9);
        int width = arch.textEncoders().getFirst().config().width();
        int[] ids = new int[TextEncoder.TOKENS];
        for (int i = 0; i < ids.length; i++) ids[i] = 1 + r.nextInt(arch.textEncoders().getFirst().config().vocabSize() - 1);
        try (UNet unet = UNet.load(c, arch.unet(), host, DType.F32, B, H, W, T, unetAdapters);
             TextEncoder enc = TextEncoder.load(c, arch.textEncoders().getFirst().component().prefix, arch.textEncoders().getFirst().config(), host, DType.F32, 1, textAdapters);
             Tensor latents = Tensor.fromFloats(host, DType.F32, random(r, B * 4 * H * W, 1), B, 4, H, W);
             Tensor timesteps = Tensor.fromFloats(host, DType.F32, new float[] {311}, B);
             Tensor context = Tensor.fromFloats(host, DType.F32, random(r, B * T * width, 1), B, T, width);
             Tensor input = Tensor.fromInts(host, ids, 1, TextEncoder.TOKENS)) {
            return new Outputs(unet.forward(latents, timesteps, context).toFloats(), enc.forward(input, 1).toFloats());
        }
    }

    static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    static double maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs((double) a[i] - b[i]));
        return m;
    }

    @Test
    void twoFilesCombinedEqualTheirWeightMergeThroughUNetAndTextEncoder() throws Exception {
        // A: LoRA + LoCon on both networks; B: another rank and alpha, UNet only (OneTrainer-like unet-only file)
        LoraNetwork a = randomNetwork(new LoraOptions(3, 2, 2, 1, true, true, 1, 5), 1);
        LoraNetwork b = randomNetwork(new LoraOptions(2, 4, 3, 6, true, false, 1, 6), 2);
        Applied fa = new Applied(write("a", a), "a", 0.7f, 0.5f), fb = new Applied(write("b", b), "b", 0.3f, -0.8f);
        Combined combined = InferenceLoras.combine(List.of(fa, fb), arch);

        LoraNetwork n = combined.network();
        assertEquals(a.modules().size(), n.modules().size(), "B's modules are a subset of A's sites");
        LoraModule conv = n.module("lora_unet_down_blocks_0_resnets_0_conv1");
        assertEquals(3, conv.kernel());
        assertEquals(2 + 3, conv.rank());
        assertEquals(5f, conv.alpha());
        assertEquals(3, n.module("lora_te_text_model_encoder_layers_0_self_attn_q_proj").rank(), "B has no text encoder modules");
        FileReport ra = combined.files().get(0), rb = combined.files().get(1);
        assertEquals(a.modules(Component.UNET).size(), ra.unetModules());
        assertEquals(a.modules(Component.TEXT_ENCODER).size(), ra.textEncoderModules());
        assertEquals(b.modules().size(), rb.unetModules());
        assertEquals(0, rb.textEncoderModules());
        assertTrue(ra.unmatchedKeys().isEmpty() && ra.unsupportedKeys().isEmpty() && ra.notAdapted().isEmpty() && ra.warnings().isEmpty());

        Outputs viaBranches;
        try (DeviceLora lora = n.upload(Devices.host(), DType.F32)) {
            viaBranches = run(base, lora.adapters(Component.UNET), lora.adapters(Component.TEXT_ENCODER));
        }
        Outputs viaMerge, plain = run(base, Adapters.FROZEN, Adapters.FROZEN);
        Map<LoraNetwork, Applied> both = new LinkedHashMap<>();
        both.put(a, fa);
        both.put(b, fb);
        try (Checkpoint m = Checkpoint.open(merged("merged", both), null)) {
            viaMerge = run(m, Adapters.FROZEN, Adapters.FROZEN);
        }
        for (int k = 0; k < 2; k++) {
            float[] got = k == 0 ? viaBranches.unet() : viaBranches.text(), want = k == 0 ? viaMerge.unet() : viaMerge.text();
            float[] none = k == 0 ? plain.unet() : plain.text();
            double tol = 2e-5 * Math.max(1, maxAbs(want)), err = maxDiff(got, want), effect = maxDiff(want, none);
            System.out.printf("%s: branches vs merge %.2e (tolerance %.2e), LoRA effect %.2e%n", k == 0 ? "unet" : "text encoder", err, tol, effect);
            assertTrue(err <= tol, "branches vs merged weights: " + err);
            assertTrue(effect > 1000 * tol, "the LoRAs change the output: " + effect);
        }
    }

    @Test
    void oneFileEqualsTheSingleFilePathAtItsMultiplier() throws Exception {
        LoraNetwork a = randomNetwork(new LoraOptions(4, 3, 2, 5, true, false, 1, 7), 3);
        Combined combined = InferenceLoras.combine(List.of(new Applied(write("single", a), "single", 9f, 0.6f)), arch);
        LoraNetwork single = LoraNetwork.create(new LoraOptions(4, 3, 2, 5, true, false, 0.6f, 7), arch.lineage(), arch.unet(), arch.textEncoders().getFirst().config());
        single.load(a.export());
        float[] got, want;
        try (DeviceLora lora = combined.network().upload(Devices.host(), DType.F32)) {
            got = run(base, lora.adapters(Component.UNET), Adapters.FROZEN).unet();
        }
        try (DeviceLora lora = single.upload(Devices.host(), DType.F32)) {
            want = run(base, lora.adapters(Component.UNET), Adapters.FROZEN).unet();
        }
        double err = maxDiff(got, want);
        assertTrue(err <= 1e-5 * Math.max(1, maxAbs(want)), "combined vs kohya's own path: " + err);
    }

    @Test
    void multiplierZeroLeavesAComponentOrEverythingOut() throws Exception {
        LoraNetwork a = randomNetwork(new LoraOptions(2, 1, 0, 0, true, true, 1, 8), 4);
        Path file = write("zero", a);
        Combined none = InferenceLoras.combine(List.of(new Applied(file, "zero", 0, 0), new Applied(file, "again", 0, 0)), arch);
        assertNull(none.network(), "weight 0 everywhere: no adapters, the base model");
        assertEquals(2, none.files().size());
        assertEquals(0, none.files().getFirst().unetModules() + none.files().getFirst().textEncoderModules());

        Combined teOnly = InferenceLoras.combine(List.of(new Applied(file, "zero", 0.5f, 0)), arch);
        assertEquals(a.modules(Component.TEXT_ENCODER).size(), teOnly.network().modules().size());
        assertTrue(teOnly.network().modules().stream().allMatch(m -> m.component() == Component.TEXT_ENCODER));
        assertEquals(0, teOnly.files().getFirst().unetModules());
        Combined unetOnly = InferenceLoras.combine(List.of(new Applied(file, "zero", 0, 1.5f)), arch);
        assertEquals(a.modules(Component.UNET).size(), unetOnly.network().modules().size());
        assertTrue(unetOnly.network().modules().stream().allMatch(m -> m.component() == Component.UNET));
        // the scale is folded into down: alpha 1 / rank 2 at 1.5
        String name = a.modules(Component.UNET).getFirst().kohyaName();
        float[] down = a.export().get(name).down(), got = unetOnly.network().export().get(name).down();
        for (int i = 0; i < down.length; i++) assertEquals(1.5f * 1 / 2 * down[i], got[i], 1e-6f);
        assertArrayEquals(a.export().get(name).up(), unetOnly.network().export().get(name).up());
    }

    /** Writes raw tensors: key -> {shape..., values...} given as shape and data. */
    static Path raw(String name, Map<String, float[]> values, Map<String, long[]> shapes, Map<String, String> metadata) throws Exception {
        Path out = dir.resolve(name + ".safetensors");
        SafeTensorsWriter w = new SafeTensorsWriter();
        metadata.forEach(w::metadata);
        for (var e : values.entrySet()) w.addFloats(e.getKey(), StoredType.F32, shapes.get(e.getKey()), e.getValue());
        w.write(out, true);
        return out;
    }

    @Test
    void reportsUnmatchedUnsupportedAndSkippedKeysAndAppliesFilesWithoutAlpha() throws Exception {
        LoraNetwork a = randomNetwork(new LoraOptions(2, 1, 0, 0, true, true, 1, 9), 5);
        Map<String, float[]> v = new LinkedHashMap<>();
        Map<String, long[]> s = new LinkedHashMap<>();
        LoraTensors q = a.export().get("lora_te_text_model_encoder_layers_0_self_attn_q_proj");
        v.put(q.kohyaName() + ".lora_down.weight", q.down());   // no alpha: OneTrainer / some kohya files; alpha = rank
        s.put(q.kohyaName() + ".lora_down.weight", q.downShape());
        v.put(q.kohyaName() + ".lora_up.weight", q.up());
        s.put(q.kohyaName() + ".lora_up.weight", q.upShape());
        for (String part : List.of("lora_down.weight", "lora_up.weight", "alpha")) {   // a module of no model
            v.put("lora_unet_nowhere_block_0." + part, new float[] {1});
            s.put("lora_unet_nowhere_block_0." + part, part.equals("alpha") ? new long[0] : new long[] {1, 1});
        }
        String mlp = "lora_te_text_model_encoder_layers_0_mlp_fc1";   // a LoHa module: matches, not applied
        for (String part : List.of("hada_w1_a", "hada_w1_b", "alpha")) {
            v.put(mlp + "." + part, new float[] {1});
            s.put(mlp + "." + part, part.equals("alpha") ? new long[0] : new long[] {1, 1});
        }
        int c0 = arch.unet().modelChannels();   // conv_in: a LoRA module where sumi takes none
        v.put("lora_unet_conv_in.lora_down.weight", new float[4 * 9]);
        s.put("lora_unet_conv_in.lora_down.weight", new long[] {1, 4, 3, 3});
        v.put("lora_unet_conv_in.lora_up.weight", new float[c0]);
        s.put("lora_unet_conv_in.lora_up.weight", new long[] {c0, 1, 1, 1});
        Path file = raw("mixed", v, s, Map.of());

        Combined c = InferenceLoras.combine(List.of(new Applied(file, "mixed", 1, 1)), arch);
        FileReport r = c.files().getFirst();
        assertEquals(List.of("lora_unet_nowhere_block_0.alpha", "lora_unet_nowhere_block_0.lora_down.weight", "lora_unet_nowhere_block_0.lora_up.weight"),
                List.copyOf(r.unmatchedKeys().keySet()));
        assertEquals(List.of(mlp + ".alpha", mlp + ".hada_w1_a", mlp + ".hada_w1_b"), r.unsupportedKeys());
        assertEquals(List.of("lora_unet_conv_in (model.diffusion_model.input_blocks.0.0.weight)"), r.notAdapted());
        assertEquals(1, r.textEncoderModules());
        assertEquals(0, r.unetModules());
        assertEquals(3, r.warnings().size());
        assertTrue(r.warnings().getFirst().startsWith("Network " + file + " didn't match keys: {lora_unet_nowhere_block_0.alpha="), r.warnings().getFirst());
        // no alpha: scale 1 at multiplier 1, the file's down unchanged
        assertArrayEquals(q.down(), c.network().export().get(q.kohyaName()).down());
        // no sshs_model_hash in the metadata: the hash of the data after the header
        assertEquals(ModelHashes.of(file).sshsModelHash().substring(0, 12), r.shortHash());
    }

    @Test
    void shortHashesAndTheInfotextFollowA1111() throws Exception {
        Path file = write("hashed", randomNetwork(new LoraOptions(2, 1, 0, 0, true, true, 1, 10), 6));
        String sshs;
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            sshs = f.metadata().get("sshs_model_hash");
        }
        Combined c = InferenceLoras.combine(List.of(new Applied(file, "my:lora,v2", 1, 1), new Applied(file, "other", 0, 0)), arch);
        assertEquals(sshs.substring(0, 12), c.files().getFirst().shortHash());
        assertEquals("mylorav2: " + sshs.substring(0, 12) + ", other: " + sshs.substring(0, 12), c.loraHashes());
    }

    @Test
    void misfitsAreOneLineErrorsNamingFileAndKey() throws Exception {
        String name = "lora_unet_down_blocks_0_resnets_0_conv1";
        LoraModule conv = randomNetwork(new LoraOptions(2, 1, 2, 1, true, false, 1, 11), 7).module(name);
        // a 1x1 down for the 3x3 conv1 (some LoCon variants): rejected
        Path oneByOne = raw("onebyone", Map.of(name + ".lora_down.weight", new float[2 * conv.in()], name + ".lora_up.weight", new float[conv.out() * 2]),
                Map.of(name + ".lora_down.weight", new long[] {2, conv.in(), 1, 1}, name + ".lora_up.weight", new long[] {conv.out(), 2, 1, 1}), Map.of());
        var e = assertThrows(IllegalArgumentException.class, () -> InferenceLoras.combine(List.of(new Applied(oneByOne, "x", 1, 1)), arch));
        assertTrue(e.getMessage().startsWith(oneByOne + ": key '" + name + ".lora_down.weight': shape [2, " + conv.in() + ", 1, 1] is a 1x1 down for a 3x3 conv"), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"));
        // wrong input width
        Path wide = raw("wide", Map.of(name + ".lora_down.weight", new float[2 * (conv.in() + 1) * 9], name + ".lora_up.weight", new float[conv.out() * 2]),
                Map.of(name + ".lora_down.weight", new long[] {2, conv.in() + 1, 3, 3}, name + ".lora_up.weight", new long[] {conv.out(), 2, 1, 1}), Map.of());
        e = assertThrows(IllegalArgumentException.class, () -> InferenceLoras.combine(List.of(new Applied(wide, "x", 0, 0)), arch));
        assertTrue(e.getMessage().startsWith(wide + ": key '" + name + ".lora_down.weight': shape [2, " + (conv.in() + 1) + ", 3, 3] does not fit "), e.getMessage());
        // too many ranks at one layer
        String q = "lora_te_text_model_encoder_layers_0_self_attn_q_proj";
        int width = arch.textEncoders().getFirst().config().width(), r = LoraOps.MAX_RANK / 2 + 1;
        Path big = raw("big", Map.of(q + ".lora_down.weight", new float[r * width], q + ".lora_up.weight", new float[width * r]),
                Map.of(q + ".lora_down.weight", new long[] {r, width}, q + ".lora_up.weight", new long[] {width, r}), Map.of());
        e = assertThrows(IllegalArgumentException.class, () -> InferenceLoras.combine(List.of(new Applied(big, "x", 1, 1), new Applied(big, "y", 1, 1)), arch));
        assertTrue(e.getMessage().contains("add up to rank " + 2 * r + ", more than sumi's " + LoraOps.MAX_RANK), e.getMessage());
        List<Applied> none = new ArrayList<>();
        assertNull(InferenceLoras.combine(none, arch).network());
    }

    @Test
    void standardSd1AndSd2NamesLandOnSumisSites() throws Exception {
        ModelArchitecture sd2 = new ModelArchitecture("SD 2.x", ModelArchitecture.Lineage.SD2, UNetConfig.sd2(), null,
                List.of(new ModelArchitecture.TextEncoder(LdmComponent.TEXT_ENCODER_OPENCLIP, TextEncoderConfig.openClipH())));
        Map<String, float[]> v = new LinkedHashMap<>();
        Map<String, long[]> s = new LinkedHashMap<>();
        String k = "lora_te_text_model_encoder_layers_0_self_attn_k_proj", in = "lora_unet_down_blocks_0_attentions_0_proj_in";
        String last = "lora_te_text_model_encoder_layers_23_mlp_fc1";   // SD 2 never runs OpenCLIP's last layer
        for (String[] m : new String[][] {{k, "1024", "1024"}, {in, "320", "320"}, {last, "1024", "4096"}}) {
            int inF = Integer.parseInt(m[1]), outF = Integer.parseInt(m[2]);
            v.put(m[0] + ".lora_down.weight", new float[2 * inF]);
            s.put(m[0] + ".lora_down.weight", new long[] {2, inF});   // SD 2's proj_in is a Linear: [r, in]
            v.put(m[0] + ".lora_up.weight", new float[outF * 2]);
            s.put(m[0] + ".lora_up.weight", new long[] {outF, 2});
        }
        Combined c = InferenceLoras.combine(List.of(new Applied(raw("sd2", v, s, Map.of()), "sd2", 1, 1)), sd2);
        assertEquals(new LoraSite("transformer.resblocks.0.attn.in_proj_weight", 1), c.network().module(k).site());
        assertEquals(0, c.network().module(in).kernel());
        assertEquals(List.of(last + " (cond_stage_model.model.transformer.resblocks.23.mlp.c_fc.weight)"), c.files().getFirst().notAdapted());

        ModelArchitecture sd1 = new ModelArchitecture("SD 1.x", ModelArchitecture.Lineage.SD1, UNetConfig.sd1(), null,
                List.of(new ModelArchitecture.TextEncoder(LdmComponent.TEXT_ENCODER_CLIP, TextEncoderConfig.clipL())));
        Path sd1File = raw("sd1", Map.of(in + ".lora_down.weight", new float[2 * 320], in + ".lora_up.weight", new float[320 * 2]),
                Map.of(in + ".lora_down.weight", new long[] {2, 320, 1, 1}, in + ".lora_up.weight", new long[] {320, 2, 1, 1}), Map.of());
        LoraModule projIn = InferenceLoras.combine(List.of(new Applied(sd1File, "sd1", 1, 1)), sd1).network().module(in);
        assertEquals(new LoraSite("input_blocks.1.1.proj_in.weight", -1), projIn.site());
        assertEquals(1, projIn.kernel(), "SD 1's proj_in is a 1x1 conv");
    }
}
