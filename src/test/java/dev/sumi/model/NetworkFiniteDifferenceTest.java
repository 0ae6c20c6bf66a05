package dev.sumi.model;

import dev.sumi.model.clip.TextEncoder;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.model.unet.UNet;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNetLayout;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.testing.Devices;
import dev.sumi.testing.TinyModelGolden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.function.DoubleSupplier;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The whole tiny UNet and text encoder (sumi's F32 networks on the host device, the tiny checkpoint and the
 * inputs of their golden fixtures) against central differences of their own forward, at a few coordinates of
 * the latents and of Linear weights (the largest gradient of each weight) (the text encoder exposes no input gradient).
 *
 * <p>The loss is L = sum over K = 4 chosen outputs of s_j * out_j (s_j = +-1), so the backward's upstream
 * gradient G is those K signs. Tolerance, with D(h) = (L(x + h) - L(x - h)) / 2h computed in F32:
 * <ul>
 *   <li>rounding: the goldens (UNetTest, TextEncoderTest) prove each F32 output within {@code b} (its budget)
 *       of the exact one at these inputs, so each L is within E = K b of the exact L, and D(h) within E / h;</li>
 *   <li>truncation: D(h) - L' = h^2 L''' / 6 + O(h^4) and D(2h) - D(h) = h^2 L''' / 2 + ..., so
 *       |D(2h) - D(h)| / 3 estimates it (Richardson); it is doubled for the O(h^4) rest (the estimate also
 *       carries up to 3E / 2h of rounding, which only widens the bound);</li>
 *   <li>the analytic gradient's own F32 error: the golden's budget for that gradient relative to its largest
 *       |truth| (r), times the largest |analytic| of this check.</li>
 * </ul>
 * tol = E / h + 2 |D(2h) - D(h)| / 3 + r max|g|. With h = 1e-2 the bound is a few percent of the largest
 * gradient at most; the test also asserts that at the largest |g| the tolerance is under 10% of it, so a
 * wrong gradient (a sign, a missing term) cannot pass.
 */
class NetworkFiniteDifferenceTest {

    static final double H = 1e-2;
    static final int T = TextEncoder.TOKENS;

    @TempDir
    Path dir;

    /** One coordinate's check: prints the figures, fails beyond tol; returns tol / |analytic| (for the sanity bound). */
    static double check(String what, float[] values, int k, Runnable upload, DoubleSupplier loss, double analytic,
                        double roundingE, double analyticErr) {
        float keep = values[k];
        double[] d = new double[2];
        for (int s = 1; s <= 2; s++) {
            values[k] = (float) (keep + s * H);
            double xp = values[k];
            upload.run();
            double lp = loss.getAsDouble();
            values[k] = (float) (keep - s * H);
            double xm = values[k];
            upload.run();
            double lm = loss.getAsDouble();
            d[s - 1] = (lp - lm) / (xp - xm);   // the steps actually taken after rounding to float
        }
        values[k] = keep;
        upload.run();
        double tol = roundingE / H + 2 * Math.abs(d[1] - d[0]) / 3 + analyticErr;
        System.out.printf("fd %-58s analytic % .6e  D(h) % .6e  D(2h) % .6e  |diff| %.2e  tol %.2e%n", what, analytic, d[0], d[1],
                Math.abs(d[0] - analytic), tol);
        if (!(Math.abs(d[0] - analytic) <= tol)) fail(what + ": analytic " + analytic + ", central difference " + d[0] + " (tol " + tol + ")");
        return tol / Math.abs(analytic);
    }

    static double maxAbs(float[] v) {
        double m = 0;
        for (float f : v) m = Math.max(m, Math.abs(f));
        return m;
    }

    @Test
    void tinyUNetMatchesCentralDifferences() throws Exception {
        var host = Devices.host();
        int B = 2, h = 16, w = 12, ctx = 64;
        UNetConfig config = UNetConfig.tiny(ctx);
        try (TinyModelGolden golden = TinyModelGolden.open("/golden/unet_tiny.safetensors", dir, "scripts/golden-unet", "unet")) {
            SafeTensorsFile f = golden.fixture;
            Map<String, Tensor> params = new HashMap<>();
            float[] x = f.readFloats("latents");
            int[] outs = {0 * 768 + 1 * 192 + 5 * 12 + 4, 1 * 768 + 3 * 192 + 10 * 12 + 7, 0 * 768 + 2 * 192 + 15 * 12 + 11, 1 * 768 + 0 * 192 + 8 * 12 + 0};
            float[] g = new float[x.length];
            for (int j = 0; j < outs.length; j++) g[outs[j]] = j % 2 == 0 ? 1 : -1;
            try (UNet unet = WeightLoader.loadAll(golden.checkpoint, LdmComponent.UNET.prefix, UNetLayout.parameters(config), host, DType.F32,
                         p -> { params.putAll(p); return new UNet(config, p, host, DType.F32, B, h, w, T); });
                 Tensor latents = Tensor.fromFloats(host, DType.F32, x, B, 4, h, w);
                 Tensor timesteps = Tensor.fromFloats(host, DType.F32, f.readFloats("timesteps"), B);
                 Tensor context = Tensor.fromFloats(host, DType.F32, f.readFloats("context"), B, T, ctx);
                 Tensor dOut = Tensor.fromFloats(host, DType.F32, g, B, 4, h, w)) {
                DoubleSupplier loss = () -> {
                    float[] out = unet.forward(latents, timesteps, context).toFloats();
                    double l = 0;
                    for (int i : outs) l += g[i] * out[i];
                    return l;
                };
                loss.getAsDouble();
                float[] dLatents = unet.backward(dOut).toFloats();
                double e = outs.length * golden.budget("out", f.readFloats("out"));
                float[] truthD = f.readFloats("dlatents");
                double rLatents = golden.budget("dlatents", truthD) / maxAbs(truthD);
                double best = Double.MAX_VALUE;
                // a latent at a chosen output's own pixel (strong paths through the convs) and a far one (attention only)
                for (int k : new int[] {outs[0] - 192, 700}) {
                    best = Math.min(best, check("unet d L / d latents[" + k + "]", x, k, () -> latents.copyFrom(x), loss, dLatents[k], e,
                            rLatents * maxAbs(dLatents)));
                }
                assertTrue(best < 0.1, "the tolerance is under 10% of the largest latent gradient checked: " + best);
                for (String name : new String[] {"output_blocks.3.1.transformer_blocks.0.attn2.to_v.weight",
                        "output_blocks.3.1.transformer_blocks.0.ff.net.2.weight"}) {
                    float[] grad = unet.gradients().get(name).toFloats();
                    float[] truth = f.contains("grad." + name) ? f.readFloats("grad." + name) : null;
                    double r = truth == null ? rLatents : golden.budget("grad." + name, truth) / maxAbs(truth);
                    Tensor param = params.get(name);
                    float[] v = param.toFloats();
                    int k = 0;
                    for (int i = 0; i < grad.length; i++) if (Math.abs(grad[i]) > Math.abs(grad[k])) k = i;   // the largest
                    double ratio = check("unet d L / d " + name + "[" + k + "]", v, k, () -> param.copyFrom(v), loss, grad[k], e, r * maxAbs(grad));
                    assertTrue(ratio < 0.1, name + ": the tolerance is under 10% of the gradient: " + ratio);
                }
            }
        }
    }

    @Test
    void tinyTextEncoderMatchesCentralDifferences() throws Exception {
        var host = Devices.host();
        try (TinyModelGolden golden = TinyModelGolden.open("/golden/text_encoder_tiny.safetensors", dir, "scripts/golden-text-encoder", "text encoder")) {
            SafeTensorsFile f = golden.fixture;
            TextEncoderConfig config = TextEncoderConfig.tiny(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 1).tokenizer().size());
            int B = 2, C = config.width();
            Map<String, Tensor> params = new HashMap<>();
            // outputs at late tokens (the causal mask lets them see most of the prompt) of both prompts
            int[] outs = {(0 * T + 8) * C + 3, (1 * T + 30) * C + 17, (1 * T + 41) * C + 60, (0 * T + 76) * C + 33};
            float[] g = new float[B * T * C];
            for (int j = 0; j < outs.length; j++) g[outs[j]] = j % 2 == 0 ? 1 : -1;
            try (TextEncoder encoder = WeightLoader.loadAll(golden.checkpoint, LdmComponent.TEXT_ENCODER_CLIP.prefix, TextEncoderLayout.parameters(config),
                         host, DType.F32, p -> { params.putAll(p); return new TextEncoder(config, p, host, DType.F32, B); });
                 Tensor ids = Tensor.fromInts(host, f.data(f.get("input_ids")).toArray(ValueLayout.JAVA_INT_UNALIGNED), B, T);
                 Tensor dHidden = Tensor.fromFloats(host, DType.F32, g, B, T, C)) {
                DoubleSupplier loss = () -> {
                    float[] out = encoder.forward(ids, 1).toFloats();
                    double l = 0;
                    for (int i : outs) l += g[i] * out[i];
                    return l;
                };
                loss.getAsDouble();
                encoder.backward(dHidden);
                double e = outs.length * golden.budget("skip1.hidden", f.readFloats("skip1.hidden"));
                for (String name : new String[] {"text_model.encoder.layers.0.self_attn.q_proj.weight", "text_model.encoder.layers.0.mlp.fc1.weight",
                        "text_model.encoder.layers.1.self_attn.v_proj.weight"}) {
                    float[] grad = encoder.gradients().get(name).toFloats();
                    float[] truth = f.readFloats("skip1.grad." + name);
                    double r = golden.budget("skip1.grad." + name, truth) / maxAbs(truth);
                    Tensor param = params.get(name);
                    float[] v = param.toFloats();
                    int k = 0;
                    for (int i = 0; i < grad.length; i++) if (Math.abs(grad[i]) > Math.abs(grad[k])) k = i;
                    double ratio = check("clip d L / d " + name + "[" + k + "]", v, k, () -> param.copyFrom(v), loss, grad[k], e, r * maxAbs(grad));
                    assertTrue(ratio < 0.1, name + ": the tolerance is under 10% of the gradient: " + ratio);
                }
            }
        }
    }
}
