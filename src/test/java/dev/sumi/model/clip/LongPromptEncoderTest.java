package dev.sumi.model.clip;

import dev.sumi.device.Device;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.LdmComponent;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.testing.Budget;
import dev.sumi.testing.Devices;
import dev.sumi.testing.TinyModelGolden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * kohya's long captions (--max_token_length 150 / 225) against the fixture of scripts/golden-long-prompt:
 * the chunk ids of transformers' CLIPTokenizer cut as kohya cuts them (SD 1 and SD 2 padding), the stitched
 * context (B, 2 + L, C) of CLIPTextModel for clip skip 1 and 2, and, for loss = sum(context * G), gradients
 * of Linear weights and biases of the first and the last layer run (they see the backward's scatter of
 * dContext into the chunks, zero on the dropped rows, and the whole encoder's backward). Budgets as in
 * TextEncoderTest: 2 x PyTorch float32's error against its float64 truth plus a few ulps (TinyModelGolden).
 */
class LongPromptEncoderTest {

    static final String FIXTURE = "/golden/long_prompt_tiny.safetensors";
    static final String PREFIX = LdmComponent.TEXT_ENCODER_CLIP.prefix;

    @TempDir
    static Path dir;

    static TinyModelGolden golden;
    static SafeTensorsFile fixture;
    static Checkpoint checkpoint;
    static TextEncoderConfig config;
    static ClipTokenizer tokenizer;
    static List<String> captions = new ArrayList<>();

    @BeforeAll
    static void setUp() throws Exception {
        golden = TinyModelGolden.open(FIXTURE, dir, "scripts/golden-long-prompt", "long prompt");
        fixture = golden.fixture;
        checkpoint = golden.checkpoint;
        config = TextEncoderConfig.tiny(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 1).tokenizer().size());
        assertEquals(fixture.metadata().get("vocab_size"), Integer.toString(config.vocabSize()));
        tokenizer = ClipTokenizer.fromHuggingFace(RandomCheckpoint.tokenizerDir(dir.resolve("tiny.safetensors")));
        int n = Integer.parseInt(fixture.metadata().get("captions"));
        for (int i = 0; i < n; i++) captions.add(fixture.metadata().get("caption" + i));
    }

    @AfterAll
    static void tearDown() {
        if (golden != null) golden.close();
    }

    static int[] ints(String name) throws Exception {
        return fixture.data(fixture.get(name)).toArray(ValueLayout.JAVA_INT_UNALIGNED);
    }

    /** G of the golden script: ((i * 40503) mod 65536) / 32768 - 1 at flat index i, exact in float. */
    static float[] dContext(int n) {
        float[] g = new float[n];
        for (int i = 0; i < n; i++) g[i] = (float) (((i * 40503L) % 65536) / 32768.0 - 1);
        return g;
    }

    @Test
    void tokenIdsAreKohyasChunks() throws Exception {
        assertEquals(2, captions.size());
        assertEquals(tokenizer.eos, LongPromptEncoder.padToken(tokenizer, TextEncoderConfig.Layout.HF_CLIP));
        for (int length : new int[] {75, 150, 225}) {
            assertArrayEquals(ints("L" + length + ".input_ids"),
                    LongPromptEncoder.tokenIds(tokenizer, captions, length, LongPromptEncoder.padToken(tokenizer, TextEncoderConfig.Layout.HF_CLIP)),
                    "SD 1 ids at max token length " + length);
            assertArrayEquals(ints("L" + length + ".v2_input_ids"),
                    LongPromptEncoder.tokenIds(tokenizer, captions, length, LongPromptEncoder.padToken(tokenizer, TextEncoderConfig.Layout.OPEN_CLIP)),
                    "SD 2 ids at max token length " + length);
        }
    }

    @Test
    void matchesKohyaOverTransformersForwardAndGradients() throws Exception {
        matchesKohya(Devices.host());
    }

    /** The same on the GPU: the row copies and the scatter as device-to-device copies of buffer slices. */
    @Test
    @Tag("gpu")
    void matchesKohyaOnTheGpu() throws Exception {
        matchesKohya(Devices.cuda());
    }

    static void matchesKohya(Device device) throws Exception {
        double worst = 0;
        for (int length : new int[] {150, 225}) {
            int B = captions.size(), n = LongPromptEncoder.chunks(length), K = LongPromptEncoder.contextTokens(length), C = config.width();
            try (LongPromptEncoder enc = LongPromptEncoder.load(checkpoint, PREFIX, config, device, DType.F32, B, length);
                 Tensor ids = Tensor.fromInts(device, ints("L" + length + ".input_ids"), (long) B * n, TextEncoder.TOKENS);
                 Tensor dContext = Tensor.fromFloats(device, DType.F32, dContext(B * K * C), B, K, C)) {
                for (int skip = 1; skip <= 2; skip++) {
                    String c = "L" + length + ".skip" + skip + ".";
                    enc.encoder().zeroGradients();
                    long free = device.memoryInfo().free();
                    Tensor context = enc.forward(ids, skip);
                    enc.backward(dContext);
                    if (skip > 1) {   // after a first call, which on a GPU may load kernels and cuBLAS's workspace
                        assertEquals(free, device.memoryInfo().free(), "forward and backward allocate nothing on the device");
                    }
                    assertEquals(List.of((long) B, (long) K, (long) C), List.of(context.shape().dim(0), context.shape().dim(1), context.shape().dim(2)));
                    worst = Math.max(worst, golden.compare(c + "context", context.toFloats()));
                    int compared = 0;
                    for (var g : enc.encoder().gradients().entrySet()) {
                        if (!fixture.contains(c + "grad." + g.getKey())) continue;
                        worst = Math.max(worst, golden.compare(c + "grad." + g.getKey(), g.getValue().toFloats()));
                        compared++;
                    }
                    assertEquals(4, compared, "gradients compared for " + c);
                }
            }
        }
        System.out.printf("long prompt on %s: worst error %.0f%% of its budget%n", device.name(), 100 * worst);
    }

    /** With max token length 75 the context is the text encoder's own (B, 77, C) output, and the backward its backward. */
    @Test
    void length75IsTheTextEncoder() throws Exception {
        int B = captions.size(), C = config.width();
        int[] idsArray = LongPromptEncoder.tokenIds(tokenizer, captions, 75, tokenizer.eos);
        float[] g = dContext(B * 77 * C);
        try (LongPromptEncoder enc = LongPromptEncoder.load(checkpoint, PREFIX, config, Devices.host(), DType.F32, B, 75);
             TextEncoder plain = TextEncoder.load(checkpoint, PREFIX, config, Devices.host(), DType.F32, B);
             Tensor ids = Tensor.fromInts(Devices.host(), idsArray, B, 77);
             Tensor dHidden = Tensor.fromFloats(Devices.host(), DType.F32, g, B, 77, C)) {
            assertEquals(77, LongPromptEncoder.contextTokens(75));
            Budget.assertExact("context", plain.forward(ids, 2).toFloats(), enc.forward(ids, 2).toFloats());
            plain.backward(dHidden);
            enc.backward(dHidden);
            for (var e : plain.gradients().entrySet()) {
                Budget.assertExact(e.getKey(), e.getValue().toFloats(), enc.encoder().gradients().get(e.getKey()).toFloats());
            }
        }
    }

    @Test
    void rejectsWrongInputs() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> LongPromptEncoder.chunks(100));
        try (TextEncoder three = TextEncoder.load(checkpoint, PREFIX, config, Devices.host(), DType.F32, 3)) {
            assertThrows(IllegalArgumentException.class, () -> new LongPromptEncoder(three, Devices.host(), DType.F32, 150));   // 3 is not B x 2
        }
        try (LongPromptEncoder enc = LongPromptEncoder.load(checkpoint, PREFIX, config, Devices.host(), DType.F32, 1, 150);
             Tensor wrong = Tensor.allocate(Devices.host(), DType.F32, 1, 77, config.width())) {
            assertThrows(IllegalStateException.class, () -> enc.backward(wrong));   // no forward yet
            try (Tensor ids = Tensor.fromInts(Devices.host(), LongPromptEncoder.tokenIds(tokenizer, List.of("x"), 150, tokenizer.eos), 2, 77)) {
                enc.forward(ids, 1);
            }
            assertThrows(IllegalArgumentException.class, () -> enc.backward(wrong));   // (1, 77, C), not (1, 152, C)
        }
    }
}
