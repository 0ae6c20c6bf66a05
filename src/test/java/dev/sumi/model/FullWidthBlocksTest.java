package dev.sumi.model;

import dev.sumi.model.clip.TextEncoder;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.model.unet.UNet;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNetLayout;
import dev.sumi.model.vae.Vae;
import dev.sumi.model.vae.VaeConfig;
import dev.sumi.model.vae.VaeLayout;
import dev.sumi.nn.ParamSpec;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.CounterWeights;
import dev.sumi.testing.Devices;
import dev.sumi.testing.TinyModelGolden;
import org.junit.jupiter.api.Test;

import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * SD 1.5's blocks at full width against diffusers / transformers (fixtures by scripts/golden-blocks), run
 * through sumi's real networks: each network is the smallest configuration of UNet, TextEncoder or Vae
 * whose blocks all have SD 1.5's widths, with full-size weights both sides draw from {@link CounterWeights}.
 *
 * <ul>
 *   <li>UNet, 320 channels, mult [1, 1], attention at level 0, 8 heads, context 77 x 768 (36.7M parameters):
 *       ResBlocks 320 with the 1280-wide time embedding, ResBlocks 640 -> 320 (channel change, 1x1 skip),
 *       SpatialTransformers 320 (self-attn, cross-attn, GEGLU FF), Downsample and Upsample 320; latents
 *       1 x 4 x 8 x 8: output, d latents and the Linear bias gradients of input_blocks.1.1.</li>
 *   <li>Text encoder: one CLIP-L layer (768 wide, 12 heads, MLP 3072, quick_gelu, causal) with a 1024-token
 *       vocabulary: hidden (1, 77, 768) and every Linear bias gradient (the API exposes no input gradient).</li>
 *   <li>VAE, one level of 512 channels (35.2M parameters): encoder and decoder ResnetBlocks and mid attention
 *       blocks at 512 (forward only, as the Vae is): mean, logvar of an 8 x 8 image, the decoded 8 x 8 latents.</li>
 * </ul>
 * Budgets as every network golden ({@link TinyModelGolden#budget}): 2 x PyTorch float32's own error against
 * its float64 run, plus 4 ulps of the largest |truth| (plus the bias gradients' summation floor).
 */
class FullWidthBlocksTest {

    static final int TOKENS = 77;

    /** The network's parameters from the generator, checked against the fingerprint the script recorded. */
    static Map<String, Tensor> weights(TinyModelGolden golden, List<ParamSpec> specs) {
        int[] fingerprint = new int[1];
        Map<String, Tensor> params = CounterWeights.parameters(specs, Devices.host(), DType.F32, fingerprint);
        assertEquals(golden.fixture.metadata().get("params"), Integer.toString(specs.size()), "parameter count: rerun scripts/golden-blocks");
        assertEquals(golden.fixture.metadata().get("fingerprint"), Integer.toUnsignedString(fingerprint[0]),
                "the generated weights differ from the script's: CounterWeights and scripts/golden-blocks disagree");
        return params;
    }

    @Test
    void unet320MatchesDiffusers() throws Exception {
        var host = Devices.host();
        UNetConfig config = new UNetConfig(4, 4, 320, new int[] {1, 1}, 1, new int[] {1, 0}, 1, 768, 8, -1, false, 0);
        int h = 8;
        try (TinyModelGolden golden = TinyModelGolden.fixtureOnly("/golden/blocks_unet_320.safetensors", "unet 320");
             UNet unet = new UNet(config, weights(golden, UNetLayout.parameters(config)), host, DType.F32, 1, h, h, TOKENS);
             Tensor latents = Tensor.fromFloats(host, DType.F32, CounterWeights.input("latents", 4 * h * h, 1), 1, 4, h, h);
             Tensor timesteps = Tensor.fromFloats(host, DType.F32, new float[] {421f}, 1);
             Tensor context = Tensor.fromFloats(host, DType.F32, CounterWeights.input("context", TOKENS * 768, 1), 1, TOKENS, 768);
             Tensor dOut = Tensor.fromFloats(host, DType.F32, CounterWeights.input("dout", 4 * h * h, 1), 1, 4, h, h)) {
            double worst = golden.compare("out", unet.forward(latents, timesteps, context).toFloats());
            worst = Math.max(worst, golden.compare("dlatents", unet.backward(dOut).toFloats()));
            int compared = 0;
            for (var g : unet.gradients().entrySet()) {
                if (!golden.fixture.contains("grad." + g.getKey())) continue;
                worst = Math.max(worst, golden.compare("grad." + g.getKey(), g.getValue().toFloats()));
                compared++;
            }
            assertEquals(4, compared, "bias gradients compared (attn1/attn2 to_out, ff.net.0.proj, ff.net.2)");
            System.out.printf("unet 320: worst error %.0f%% of its budget%n", 100 * worst);
        }
    }

    @Test
    void textEncoderLayerMatchesTransformers() throws Exception {
        var host = Devices.host();
        try (TinyModelGolden golden = TinyModelGolden.fixtureOnly("/golden/blocks_text_encoder_768.safetensors", "text encoder 768")) {
            int vocab = Integer.parseInt(golden.fixture.metadata().get("vocab_size"));
            TextEncoderConfig config = new TextEncoderConfig(TextEncoderConfig.Layout.HF_CLIP, vocab, 768, 1, 12, 3072, TOKENS, true, 0);
            try (TextEncoder encoder = new TextEncoder(config, weights(golden, TextEncoderLayout.parameters(config)), host, DType.F32, 1);
                 Tensor ids = Tensor.fromInts(host, golden.fixture.data(golden.fixture.get("input_ids")).toArray(ValueLayout.JAVA_INT_UNALIGNED), 1, TOKENS);
                 Tensor dHidden = Tensor.fromFloats(host, DType.F32, CounterWeights.input("dhidden", TOKENS * 768, 1), 1, TOKENS, 768)) {
                double worst = golden.compare("hidden", encoder.forward(ids, 1).toFloats());
                encoder.backward(dHidden);
                int compared = 0;
                for (var g : encoder.gradients().entrySet()) {
                    if (!g.getKey().endsWith(".bias")) continue;
                    worst = Math.max(worst, golden.compare("grad." + g.getKey(), g.getValue().toFloats()));
                    compared++;
                }
                assertEquals(6, compared, "bias gradients compared (q, k, v, out_proj, fc1, fc2)");
                System.out.printf("text encoder 768: worst error %.0f%% of its budget%n", 100 * worst);
            }
        }
    }

    @Test
    void vae512MatchesDiffusers() throws Exception {
        var host = Devices.host();
        VaeConfig config = new VaeConfig(512, new int[] {1}, 1, 3, 4, 0.18215);
        int h = 8;
        try (TinyModelGolden golden = TinyModelGolden.fixtureOnly("/golden/blocks_vae_512.safetensors", "vae 512");
             Vae vae = new Vae(config, weights(golden, VaeLayout.parameters(config)), host, DType.F32, 1, h, h);
             Tensor image = Tensor.fromFloats(host, DType.F32, CounterWeights.input("image", 3 * h * h, 1), 1, 3, h, h);
             Tensor latents = Tensor.fromFloats(host, DType.F32, CounterWeights.input("latents", 4 * h * h, 1), 1, 4, h, h)) {
            Tensor[] posterior = vae.encode(image);
            double worst = golden.compare("mean", posterior[0].toFloats());
            worst = Math.max(worst, golden.compare("logvar", posterior[1].toFloats()));
            worst = Math.max(worst, golden.compare("decoded", vae.decode(latents).toFloats()));
            System.out.printf("vae 512: worst error %.0f%% of its budget%n", 100 * worst);
        }
    }
}
