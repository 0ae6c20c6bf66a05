package dev.sumi.model.clip;

import dev.sumi.model.Checkpoint;
import dev.sumi.model.LdmComponent;
import dev.sumi.nn.ParamSpec;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.SafeTensorsWriter;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.tensor.safetensors.TensorEntry;
import dev.sumi.testing.Devices;
import dev.sumi.testing.TinyModelGolden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The text encoder in the OPEN_CLIP layout (SD 2.x's cond_stage_model.model.*, SDXL's embedders.1) against
 * transformers' CLIPTextModel on the same weights converted to its names (fixture by scripts/golden-openclip):
 * forward for clip skip 1 and 2 and the gradients of every Linear weight and bias (q, k, v through the stacked
 * attn.in_proj_weight / in_proj_bias) for loss = sum(hidden * G), on the host device in F32.
 *
 * <p>The weights are {@link #params}: a 64-bit LCG over {@link TextEncoderLayout}'s order for
 * {@link TextEncoderConfig#tinyOpenClip}, which the script computes the same way; the fixture's
 * "params_sha256" of their float32 bytes proves both sides used the same bits. They are written with
 * {@link SafeTensorsWriter} under {@code cond_stage_model.model.} and loaded through {@link Checkpoint}.
 * Budgets are {@link TextEncoderTest}'s: 2 x the float32 PyTorch error + 4 ulps of the largest |truth|, and
 * for bias gradients also u x the largest column sum of |d loss / d output| (the stacked in_proj_bias's
 * k third is exactly zero, softmax ignoring a shift common to all keys).
 */
class TextEncoderOpenClipTest {

    static final String FIXTURE = "/golden/text_encoder_openclip_tiny.safetensors";
    static final long SEED = 4321;
    static final int BATCH = 2, T = TextEncoder.TOKENS;

    @TempDir
    static Path dir;

    static TinyModelGolden golden;
    static SafeTensorsFile fixture;
    static Checkpoint checkpoint;
    static TextEncoderConfig config;

    /** The weights of scripts/golden-openclip's params(), name -> values, and (in "") the sha256 of their F32 bytes. */
    static Map<String, float[]> params(TextEncoderConfig c, StringBuilder sha) throws Exception {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        Map<String, float[]> out = new LinkedHashMap<>();
        long state = SEED;
        for (ParamSpec spec : TextEncoderLayout.parameters(c)) {
            String name = spec.name();
            long[] shape = spec.shape();
            float[] v = new float[(int) spec.numel()];
            for (int i = 0; i < v.length; i++) {
                state = state * 6364136223846793005L + 1442695040888963407L;
                double u = 2.0 * ((state >>> 11) * 0x1.0p-53) - 1.0;
                double x;
                if (name.endsWith("bias")) x = 0.1 * u;
                else if (name.contains("ln_")) x = 1.0 + 0.25 * u;
                else if (name.equals("token_embedding.weight") || name.equals("positional_embedding")) x = 0.5 * u;
                else x = u * Math.sqrt(3.0 / shape[1]);
                v[i] = (float) x;
            }
            ByteBuffer bytes = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : v) bytes.putFloat(f);
            digest.update(bytes.array());
            out.put(name, v);
        }
        sha.append(HexFormat.of().formatHex(digest.digest()));
        return out;
    }

    @BeforeAll
    static void setUp() throws Exception {
        golden = TinyModelGolden.fixtureOnly(FIXTURE, "openclip");
        fixture = golden.fixture;
        config = TextEncoderConfig.tinyOpenClip(Integer.parseInt(fixture.metadata().get("vocab_size")));
        StringBuilder sha = new StringBuilder();
        Map<String, float[]> p = params(config, sha);
        assertEquals(fixture.metadata().get("params_sha256"), sha.toString(),
                "the generated weights are not the ones the fixture was made from: rerun scripts/golden-openclip");
        SafeTensorsWriter w = new SafeTensorsWriter();
        for (ParamSpec spec : TextEncoderLayout.parameters(config)) {
            w.addFloats(LdmComponent.TEXT_ENCODER_OPENCLIP.prefix + spec.name(), StoredType.F32, spec.shape(), p.get(spec.name()));
        }
        w.metadata("sumi.text_encoder.heads", Integer.toString(config.heads()));
        Path ckpt = dir.resolve("tiny-openclip.safetensors");
        w.write(ckpt, false);
        checkpoint = Checkpoint.open(ckpt, null);
        // the detector reads the same config back from the OpenCLIP names (SD 2.x lineage by the prefix)
        assertEquals(config, checkpoint.architecture().textEncoders().getFirst().config());
    }

    @AfterAll
    static void tearDown() {
        if (checkpoint != null) checkpoint.close();
        if (golden != null) golden.close();
    }

    static int[] ids() throws Exception {
        TensorEntry e = fixture.get("input_ids");
        return fixture.data(e).toArray(ValueLayout.JAVA_INT_UNALIGNED);
    }

    static double compare(String name, float[] got) throws Exception {
        return golden.compare(name, got);
    }

    @Test
    void matchesTransformersForwardAndGradients() throws Exception {
        try (TextEncoder enc = TextEncoder.load(checkpoint, LdmComponent.TEXT_ENCODER_OPENCLIP.prefix, config, Devices.host(), DType.F32, BATCH);
             Tensor ids = Tensor.fromInts(Devices.host(), ids(), BATCH, T);
             Tensor dHidden = Tensor.fromFloats(Devices.host(), DType.F32, fixture.readFloats("dhidden"), BATCH, T, config.width())) {
            assertNotNull(enc.textProjection());
            assertEquals(8 * config.layers(), enc.gradients().size());
            assertTrue(enc.gradients().containsKey("transformer.resblocks.0.attn.in_proj_weight"));
            assertEquals(3L * config.width() * config.width(), enc.gradients().get("transformer.resblocks.1.attn.in_proj_weight").numel());
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
                    } else {
                        for (float v : g.getValue().toFloats()) if (v != 0) fail(name + ": non-zero gradient of a layer that did not run");
                    }
                }
                assertEquals(8 * (config.layers() - (skip - 1)), compared, "gradients compared with clip skip " + skip);
            }
            System.out.printf("text encoder (OpenCLIP): worst error %.0f%% of its budget%n", 100 * worst);
        }
    }
}
