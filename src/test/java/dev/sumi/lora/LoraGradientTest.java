package dev.sumi.lora;

import dev.sumi.model.Checkpoint;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.LdmComponent;
import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.model.clip.TextEncoder;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.unet.UNet;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.testing.Budget;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * LoRA / LoCon gradients through the whole tiny UNet and tiny text encoder (F32, host) against central
 * differences of L = sum(out * G) in the masters, with every module's up set nonzero; and the base output
 * recovered exactly at multiplier 0 or up = 0.
 *
 * <p>Tolerance: D(h) = (L(w + h) - L(w - h)) / 2h errs by truncation c h^2 and by rounding. Richardson's
 * estimate of the truncation is |D(h) - D(h/2)| (= 3/4 c h^2, so 4/3 of it bounds D(h/2)'s); the rounding
 * of two F32 forwards of the same ops is at most a few ulps of sum|out * G| each, divided by 2 (h/2).
 * The analytic gradient (F32 accumulation) errs by ~ eps_32 sqrt(terms) relative; 1e-3 relative covers it.
 */
class LoraGradientTest {
    static final int B = 1, H = 4, W = 4, T = 4;   // small: each check runs four whole forwards

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;
    static TextEncoderConfig teConfig;
    static UNetConfig unetConfig;

    @BeforeAll
    static void setUp() throws Exception {
        Path ckpt = dir.resolve("tiny.safetensors");
        RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 1), 1, StoredType.F32, ckpt, false);
        checkpoint = Checkpoint.open(ckpt, null);
        teConfig = TextEncoderConfig.tiny(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 1).tokenizer().size());
        unetConfig = UNetConfig.tiny(teConfig.width());
    }

    @AfterAll
    static void tearDown() {
        if (checkpoint != null) checkpoint.close();
    }

    /** A network with every up (and down) drawn at random, so every branch carries signal. */
    static LoraNetwork randomNetwork(LoraOptions o, long seed) {
        LoraNetwork n = LoraNetwork.create(o, Lineage.SD1, unetConfig, teConfig);
        Random r = new Random(seed);
        for (LoraModule m : n.modules()) {
            float[] up = new float[(int) m.upCount()];
            for (int i = 0; i < up.length; i++) up[i] = (float) ((r.nextDouble() * 2 - 1) * 0.2);
            n.set(m.kohyaName(), n.export().get(m.kohyaName()).down(), up);
        }
        return n;
    }

    static float[] random(Random r, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return v;
    }

    static double dot(float[] out, float[] g) {
        double s = 0;
        for (int i = 0; i < out.length; i++) s += (double) out[i] * g[i];
        return s;
    }

    static double absDot(float[] out, float[] g) {
        double s = 0;
        for (int i = 0; i < out.length; i++) s += Math.abs((double) out[i] * g[i]);
        return s;
    }

    /** Checks d L / d (master[i]) of each listed tensor against central differences; loss() runs a forward. */
    static void check(String what, Tensor master, Tensor grad, int[] coords, Supplier<float[]> out, float[] g) {
        float[] analytic = grad.toFloats();
        float[] w = master.toFloats();
        double scale = 0;
        for (float v : analytic) scale = Math.max(scale, Math.abs(v));
        for (int i : coords) {
            double h = 0.05;   // large enough that two F32 forwards' rounding stays small against L's change
            double[] d = new double[2];
            double noise = 0;
            for (int k = 0; k < 2; k++) {
                double hk = h / (1 << k);
                float keep = w[i];
                w[i] = (float) (keep + hk);
                double hp = w[i] - keep;
                master.copyFrom(w);
                float[] o = out.get();
                double lp = dot(o, g);
                noise = Math.max(noise, 8 * Math.ulp((float) absDot(o, g)));
                w[i] = (float) (keep - hk);
                double hm = keep - w[i];
                master.copyFrom(w);
                double lm = dot(out.get(), g);
                w[i] = keep;
                master.copyFrom(w);
                d[k] = (lp - lm) / (hp + hm);
            }
            double tol = 4.0 / 3 * Math.abs(d[0] - d[1]) + noise / (h / 2) + 1e-3 * scale;
            double err = Math.abs(d[1] - analytic[i]);
            System.out.printf("%-60s [%d] analytic %+.6e, differences %+.6e, err %.2e, tol %.2e%n", what, i, analytic[i], d[1], err, tol);
            if (!(err <= tol)) fail(what + "[" + i + "]: analytic " + analytic[i] + ", central difference " + d[1] + ", tolerance " + tol);
        }
        assertTrue(scale > 0, what + ": the gradient is all zero");
    }

    @Test
    void unetLoraAndLoconGradientsMatchDifferences() {
        var host = Devices.host();
        LoraNetwork net = randomNetwork(new LoraOptions(3, 2, 2, 1, true, false, 1, 5), 11);
        Random r = new Random(3);
        try (DeviceLora lora = net.upload(host, DType.F32);
             UNet unet = UNet.load(checkpoint, unetConfig, host, DType.F32, B, H, W, T, lora.adapters(Component.UNET));
             Tensor latents = Tensor.fromFloats(host, DType.F32, random(r, B * 4 * H * W, 1), B, 4, H, W);
             Tensor timesteps = Tensor.fromFloats(host, DType.F32, new float[] {417}, B);
             Tensor context = Tensor.fromFloats(host, DType.F32, random(r, B * T * teConfig.width(), 1), B, T, teConfig.width());
             Tensor dContext = Tensor.allocate(host, DType.F32, B, T, teConfig.width())) {
            assertTrue(unet.gradients().isEmpty(), "a LoRA UNet forms no Linear weight gradients");
            float[] g = random(r, B * 4 * H * W, 1);
            unet.forward(latents, timesteps, context);
            try (Tensor dOut = Tensor.fromFloats(host, DType.F32, g, B, 4, H, W)) {
                unet.backward(dOut, dContext);
            }
            Supplier<float[]> out = () -> unet.forward(latents, timesteps, context).toFloats();
            // the three code paths (ProjectionLora, AdaptedLinear, AdaptedConv) once each, and time_emb_proj's
            // per-channel sum; LoraGoldenTest checks one module of every site kind against diffusers
            for (String name : List.of("lora_unet_down_blocks_0_attentions_0_proj_in", "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k",
                    "lora_unet_down_blocks_1_resnets_0_conv1", "lora_unet_up_blocks_0_resnets_1_time_emb_proj")) {
                LoraAdapter a = lora.adapter(name);
                int nd = (int) a.module().downCount(), nu = (int) a.module().upCount();
                check(name + ".down", a.masterDown, a.gradDown, new int[] {nd / 3}, out, g);
                check(name + ".up", a.masterUp, a.gradUp, new int[] {nu / 2}, out, g);
            }
            // the context gradient (a trained text encoder's input) against differences too
            float[] ctx = context.toFloats();
            float[] dc = dContext.toFloats();
            check("d context", context, dContext, new int[] {ctx.length / 2}, out, g);
            assertEquals(ctx.length, dc.length);
        }
    }

    @Test
    void textEncoderLoraGradientsMatchDifferencesThroughClipSkip() {
        var host = Devices.host();
        LoraNetwork net = randomNetwork(LoraOptions.of(4, 4, 9).only(false, true), 12);
        Random r = new Random(4);
        int[] ids = new int[TextEncoder.TOKENS];
        for (int i = 0; i < ids.length; i++) ids[i] = r.nextInt(teConfig.vocabSize());
        try (DeviceLora lora = net.upload(host, DType.F32);
             TextEncoder enc = TextEncoder.load(checkpoint, LdmComponent.TEXT_ENCODER_CLIP.prefix, teConfig, host, DType.F32, 1, lora.adapters(Component.TEXT_ENCODER));
             Tensor input = Tensor.fromInts(host, ids, 1, TextEncoder.TOKENS)) {
            assertTrue(enc.gradients().isEmpty());
            float[] g = random(r, TextEncoder.TOKENS * teConfig.width(), 1);
            int clipSkip = 2;   // the tiny encoder has 2 layers: only layer 0 runs
            enc.forward(input, clipSkip);
            try (Tensor dHidden = Tensor.fromFloats(host, DType.F32, g, 1, TextEncoder.TOKENS, teConfig.width())) {
                enc.backward(dHidden);
            }
            Supplier<float[]> out = () -> enc.forward(input, clipSkip).toFloats();
            for (String p : List.of("self_attn_q_proj", "self_attn_k_proj", "self_attn_v_proj", "self_attn_out_proj", "mlp_fc1", "mlp_fc2")) {
                LoraAdapter a = lora.adapter("lora_te_text_model_encoder_layers_0_" + p);
                check(p + ".down", a.masterDown, a.gradDown, new int[] {(int) a.module().downCount() - 5}, out, g);
                check(p + ".up", a.masterUp, a.gradUp, new int[] {(int) a.module().upCount() / 2}, out, g);
                LoraAdapter skipped = lora.adapter("lora_te_text_model_encoder_layers_1_" + p);
                for (float v : skipped.gradDown.toFloats()) assertEquals(0f, v, "layer 1 is not run under clip skip 2");
            }
        }
    }

    @Test
    void multiplierZeroOrZeroUpGivesTheBaseOutputExactly() {
        var host = Devices.host();
        Random r = new Random(5);
        LoraOptions o = new LoraOptions(3, 2, 2, 1, true, false, 1, 5);
        try (Tensor latents = Tensor.fromFloats(host, DType.F32, random(r, B * 4 * H * W, 1), B, 4, H, W);
             Tensor timesteps = Tensor.fromFloats(host, DType.F32, new float[] {31}, B);
             Tensor context = Tensor.fromFloats(host, DType.F32, random(r, B * T * teConfig.width(), 1), B, T, teConfig.width())) {
            float[] base;
            try (UNet unet = UNet.load(checkpoint, unetConfig, host, DType.F32, B, H, W, T, Adapters.FROZEN)) {
                base = unet.forward(latents, timesteps, context).toFloats();
            }
            try (DeviceLora fresh = LoraNetwork.create(o, Lineage.SD1, unetConfig, teConfig).upload(host, DType.F32);
                 UNet unet = UNet.load(checkpoint, unetConfig, host, DType.F32, B, H, W, T, fresh.adapters(Component.UNET))) {
                Budget.assertExact("up = 0", base, unet.forward(latents, timesteps, context).toFloats());
            }
            try (DeviceLora trained = randomNetwork(o, 3).upload(host, DType.F32);
                 UNet unet = UNet.load(checkpoint, unetConfig, host, DType.F32, B, H, W, T, trained.adapters(Component.UNET))) {
                float[] adapted = unet.forward(latents, timesteps, context).toFloats();
                assertTrue(Budget.maxAbsError(adapted, toDouble(base)) > 0, "a nonzero up changes the output");
                trained.setMultiplier(0);
                Budget.assertExact("multiplier 0", base, unet.forward(latents, timesteps, context).toFloats());
            }
        }
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}
