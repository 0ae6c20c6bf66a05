package dev.sumi.model.clip;

import dev.sumi.model.Checkpoint;
import dev.sumi.model.LdmComponent;
import dev.sumi.model.ModelHashes;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.model.WeightLoader;
import dev.sumi.ops.AttentionParams;
import dev.sumi.ops.ref.ActivationRef;
import dev.sumi.ops.ref.AttentionRef;
import dev.sumi.ops.ref.LinearRef;
import dev.sumi.ops.ref.NormRef;
import dev.sumi.ops.ref.ShapeRef;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.tensor.safetensors.TensorEntry;
import dev.sumi.testing.Devices;
import dev.sumi.testing.TinyModelGolden;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The tiny CLIP text encoder against transformers' CLIPTextModel (fixture by scripts/golden-text-encoder):
 * forward for clip skip 1 and 2 and the gradients of every Linear weight and bias for
 * loss = sum(hidden * G), on the host device in F32; then a few weight-gradient coordinates against
 * central differences of an F64 Java forward built from the ops' references.
 *
 * <p>Budgets (flash-attention's rule, docs/ops.md): the fixture holds the float64 PyTorch result (the
 * truth, rounded to float32 for storage) and, in its metadata, how far a plain float32 PyTorch run of the
 * same network lies from it (the baseline). sumi computes in float32 too, with other summation orders, so
 * its error must be within 2 x the baseline, plus a floor of 4 float ulps of the tensor's largest
 * |truth| (the storage rounding of the truth is half an ulp, and a tiny tensor's baseline can be exact
 * by luck).
 */
class TextEncoderTest {

    static final String FIXTURE = "/golden/text_encoder_tiny.safetensors";
    static final int BATCH = 2, T = TextEncoder.TOKENS;

    @TempDir
    static Path dir;

    static TinyModelGolden golden;
    static SafeTensorsFile fixture;
    static Checkpoint checkpoint;
    static TextEncoderConfig config;

    @BeforeAll
    static void setUp() throws Exception {
        golden = TinyModelGolden.open(FIXTURE, dir, "scripts/golden-text-encoder", "text encoder");
        fixture = golden.fixture;
        checkpoint = golden.checkpoint;
        config = TextEncoderConfig.tiny(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 1).tokenizer().size());
        assertEquals(fixture.metadata().get("vocab_size"), Integer.toString(config.vocabSize()));
    }

    @AfterAll
    static void tearDown() {
        if (golden != null) golden.close();
    }

    static float[] floats(String name) throws Exception {
        return fixture.readFloats(name);
    }

    static int[] ids() throws Exception {
        TensorEntry e = fixture.get("input_ids");
        return fixture.data(e).toArray(ValueLayout.JAVA_INT_UNALIGNED);
    }

    static double budget(String name, float[] truth) {
        return golden.budget(name, truth);
    }

    static double compare(String name, float[] got) throws Exception {
        return golden.compare(name, got);
    }

    @Test
    void matchesTransformersForwardAndGradients() throws Exception {
        try (TextEncoder enc = TextEncoder.load(checkpoint, LdmComponent.TEXT_ENCODER_CLIP.prefix, config, Devices.host(), DType.F32, BATCH);
             Tensor ids = Tensor.fromInts(Devices.host(), ids(), BATCH, T);
             Tensor dHidden = Tensor.fromFloats(Devices.host(), DType.F32, floats("dhidden"), BATCH, T, config.width())) {
            double worst = 0;
            for (int skip = 1; skip <= 2; skip++) {
                enc.zeroGradients();
                long free = Devices.host().memoryInfo().free();
                Tensor hidden = enc.forward(ids, skip);
                enc.backward(dHidden);
                assertEquals(free, Devices.host().memoryInfo().free(), "forward and backward allocate nothing on the device");
                worst = Math.max(worst, compare("skip" + skip + ".hidden", hidden.toFloats()));
                int compared = 0;
                for (var g : enc.gradients().entrySet()) {
                    String name = "skip" + skip + ".grad." + g.getKey();
                    if (fixture.contains(name)) {
                        worst = Math.max(worst, compare(name, g.getValue().toFloats()));
                        compared++;
                    } else {   // a layer clip skip did not run: no gradient
                        for (float v : g.getValue().toFloats()) if (v != 0) fail(name + ": non-zero gradient of a layer that did not run");
                    }
                }
                assertEquals(12 * (config.layers() - (skip - 1)), compared, "gradients compared with clip skip " + skip);
            }
            System.out.printf("text encoder: worst error %.0f%% of its budget%n", 100 * worst);

            // backward accumulates (+=): a second backward of the same forward doubles every gradient
            float[] once = enc.gradients().get("text_model.encoder.layers.0.mlp.fc1.weight").toFloats();
            enc.backward(dHidden);
            float[] twice = enc.gradients().get("text_model.encoder.layers.0.mlp.fc1.weight").toFloats();
            for (int i = 0; i < once.length; i++) {
                if (Math.abs(twice[i] - 2 * once[i]) > 2 * Math.ulp(Math.abs(2 * once[i]))) fail("backward does not accumulate at " + i);
            }
        }
    }

    @Test
    void rejectsWrongInputs() throws Exception {
        try (TextEncoder enc = TextEncoder.load(checkpoint, LdmComponent.TEXT_ENCODER_CLIP.prefix, config, Devices.host(), DType.F32, 1);
             Tensor ids = Tensor.fromInts(Devices.host(), new int[2 * T], 2, T);
             Tensor dHidden = Tensor.allocate(Devices.host(), DType.F32, 1, T, config.width())) {
            assertThrows(IllegalStateException.class, () -> enc.backward(dHidden));   // no forward yet
            assertThrows(IllegalArgumentException.class, () -> enc.forward(ids, 1));   // batch 2 into a batch-1 encoder
        }
    }

    // ---- finite differences through the whole encoder, in F64 ----------------------------------------

    /** loss = sum(hidden * G) of the encoder in F64, composed from the ops' F64 references. */
    static double loss64(Map<String, double[]> w, int[] ids, double[] g, int skip) {
        int C = config.width(), I = config.intermediate(), M = BATCH * T;
        String p = "text_model.";
        double[] x = new double[M * C], a = new double[M * C], q = new double[M * C], k = new double[M * C], v = new double[M * C];
        double[] o = new double[M * C], proj = new double[M * C], f = new double[M * I], mean = new double[M], rstd = new double[M];
        double[] lse = new double[BATCH * config.heads() * T];
        AttentionParams ap = AttentionParams.packed(BATCH, config.heads(), T, T, config.headDim(), true);
        ActivationRef.Kind act = config.quickGelu() ? ActivationRef.Kind.QUICK_GELU : ActivationRef.Kind.GELU;
        ShapeRef.embeddingForward(x, ids, w.get(p + "embeddings.token_embedding.weight"), w.get(p + "embeddings.position_embedding.weight"), BATCH, T, C);
        for (int l = 0; l < config.layers() - (skip - 1); l++) {
            String L = p + "encoder.layers." + l + ".";
            NormRef.layernormForward(a, mean, rstd, x, w.get(L + "layer_norm1.weight"), w.get(L + "layer_norm1.bias"), M, C, 1e-5);
            LinearRef.forward(q, a, w.get(L + "self_attn.q_proj.weight"), w.get(L + "self_attn.q_proj.bias"), M, C, C);
            LinearRef.forward(k, a, w.get(L + "self_attn.k_proj.weight"), w.get(L + "self_attn.k_proj.bias"), M, C, C);
            LinearRef.forward(v, a, w.get(L + "self_attn.v_proj.weight"), w.get(L + "self_attn.v_proj.bias"), M, C, C);
            AttentionRef.forward(o, lse, q, k, v, ap);
            LinearRef.forward(proj, o, w.get(L + "self_attn.out_proj.weight"), w.get(L + "self_attn.out_proj.bias"), M, C, C);
            for (int i = 0; i < x.length; i++) x[i] += proj[i];
            NormRef.layernormForward(a, mean, rstd, x, w.get(L + "layer_norm2.weight"), w.get(L + "layer_norm2.bias"), M, C, 1e-5);
            LinearRef.forward(f, a, w.get(L + "mlp.fc1.weight"), w.get(L + "mlp.fc1.bias"), M, I, C);
            for (int i = 0; i < f.length; i++) f[i] = ActivationRef.apply(act, f[i]);
            LinearRef.forward(proj, f, w.get(L + "mlp.fc2.weight"), w.get(L + "mlp.fc2.bias"), M, C, I);
            for (int i = 0; i < x.length; i++) x[i] += proj[i];
        }
        NormRef.layernormForward(a, mean, rstd, x, w.get(p + "final_layer_norm.weight"), w.get(p + "final_layer_norm.bias"), M, C, 1e-5);
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * g[i];
        return s;
    }

    static double central(Map<String, double[]> w, double[] t, int i, int[] ids, double[] g, double h) {
        double keep = t[i];
        t[i] = keep + h;
        double up = loss64(w, ids, g, 1);
        t[i] = keep - h;
        double down = loss64(w, ids, g, 1);
        t[i] = keep;
        return (up - down) / (2 * h);
    }

    /**
     * A few weight and bias coordinates of both layers: d loss / d w by central differences of the F64
     * forward, Richardson-extrapolated from h = 1e-3 and h / 2 (a plain central difference errs by
     * h^2 |L'''| / 6, 7e-7 relative at v_proj's bias; the extrapolation leaves O(h^4), and the F64
     * rounding eps |L| / h is ~1e-13 relative), against sumi's F32 gradient (the golden budget of that
     * tensor) and against the fixture's float64 PyTorch gradient (one float ulp: its storage rounding is
     * half of one, plus 1e-9 relative for the difference quotient). This checks the oracle and sumi
     * independently of each other.
     */
    @Test
    void gradientsMatchCentralDifferencesOfAnF64Forward() throws Exception {
        Map<String, double[]> w = new HashMap<>();
        for (var spec : TextEncoderLayout.parameters(config)) {
            try (Tensor t = WeightLoader.load(checkpoint, LdmComponent.TEXT_ENCODER_CLIP.prefix + spec.name(), Devices.host(), DType.F32)) {
                float[] fl = t.toFloats();
                double[] d = new double[fl.length];
                for (int i = 0; i < fl.length; i++) d[i] = fl[i];
                w.put(spec.name(), d);
            }
        }
        int[] ids = ids();
        float[] gf = floats("dhidden");
        double[] g = new double[gf.length];
        for (int i = 0; i < g.length; i++) g[i] = gf[i];
        String[] names = {"text_model.encoder.layers.0.self_attn.q_proj.weight", "text_model.encoder.layers.0.self_attn.v_proj.bias",
                "text_model.encoder.layers.0.mlp.fc1.weight", "text_model.encoder.layers.1.self_attn.k_proj.weight",
                "text_model.encoder.layers.1.mlp.fc2.weight", "text_model.encoder.layers.1.self_attn.out_proj.bias"};
        int[] coords = {5 * 64 + 7, 13, 100 * 64 + 3, 2 * 64 + 40, 9 * 256 + 200, 31};
        try (TextEncoder enc = TextEncoder.load(checkpoint, LdmComponent.TEXT_ENCODER_CLIP.prefix, config, Devices.host(), DType.F32, BATCH);
             Tensor idsT = Tensor.fromInts(Devices.host(), ids, BATCH, T);
             Tensor dHidden = Tensor.fromFloats(Devices.host(), DType.F32, gf, BATCH, T, config.width())) {
            enc.forward(idsT, 1);
            enc.backward(dHidden);
            double h = 1e-3;
            for (int n = 0; n < names.length; n++) {
                double[] t = w.get(names[n]);
                int i = coords[n];
                double numeric = (4 * central(w, t, i, ids, g, h / 2) - central(w, t, i, ids, g, h)) / 3;   // Richardson
                float[] truth = floats("skip1.grad." + names[n]);
                double sumi = enc.gradients().get(names[n]).toFloats()[i];
                double budget = budget("skip1.grad." + names[n], truth);
                System.out.printf("%-56s [%d] central difference %.9e, sumi %.9e (err %.2e, budget %.2e), torch f64 %.9e%n",
                        names[n], i, numeric, sumi, Math.abs(sumi - numeric), budget, truth[i]);
                if (!(Math.abs(sumi - numeric) <= budget)) fail(names[n] + "[" + i + "]: sumi " + sumi + ", central difference " + numeric);
                if (!(Math.abs(truth[i] - numeric) <= Math.ulp(truth[i]) + 1e-9 * Math.abs(numeric) + 1e-12)) {
                    fail(names[n] + "[" + i + "]: torch f64 " + truth[i] + ", central difference " + numeric);
                }
            }
        }
    }
}
