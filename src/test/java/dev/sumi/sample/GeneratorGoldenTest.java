package dev.sumi.sample;

import dev.sumi.data.RgbImage;
import dev.sumi.model.clip.ClipTokenizer;
import dev.sumi.model.clip.LongPromptEncoder;
import dev.sumi.tensor.DType;
import dev.sumi.testing.Devices;
import dev.sumi.testing.TinyModelGolden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole text-to-image pipeline on the tiny model against diffusers' pipeline pieces (fixture by
 * scripts/golden-generate): CLIPTokenizer and CLIPTextModel for prompt "a red square" and negative "blurry",
 * UNet2DConditionModel with classifier-free guidance (cfg 7.5, [negative; prompt] rows, u + s (c - u)) under each
 * scheduler (Euler, Euler a, DDIM, DPM++ 2M Karras; epsilon), 4 steps of one 32 x 32 px image (16 x 16 latents), from
 * the fixture's initial noise and, for Euler a, its per-step noise; then AutoencoderKL.decode of DPM++ 2M's result.
 * sumi's {@link Generator} runs the same on the host in F32, and every step's latents are compared.
 *
 * <p>Budget (as the network goldens, {@link TinyModelGolden#budget}): the fixture holds diffusers' float64 run (the
 * truth) and, per step, how far a plain float32 run of the same pipeline lies from it (the baseline); sumi computes
 * in float32 with other summation orders, so its error must be within 2 x the baseline plus 4 float ulps of the
 * largest |latent|. The baseline is measured after every step, so it already holds the way rounding errors of the
 * earlier steps are carried and amplified (by cfg 7.5 and the sampler's coefficients) into the later ones: about
 * 2.5e-6 of the largest |latent| at every step (Euler 1.06e-4 .. 1.11e-4 at max |latent| 42; DPM++ 2M 3.0e-5 at
 * 12.7 after its first step, 9.4e-5 at 44 after its last). sumi's error was 52-67% of the budget at every step.
 * The budget catches mistakes, as the test shows: with the prompt and negative prompt swapped (the CFG order
 * reversed, c + s (u - c)) the first step is some 10^4 budgets off, and every other sampler's trajectory is more
 * than 100 budgets from a sampler's own.
 */
class GeneratorGoldenTest {

    static final String FIXTURE = "/golden/generate_tiny.safetensors";
    static final String PROMPT = "a red square", NEGATIVE = "blurry";
    static final int STEPS = 4, PX = 32;
    static final double CFG = 7.5;
    static final String[] SAMPLERS = {"euler", "euler_a", "ddim", "dpmpp_2m"};

    @TempDir
    static Path dir;
    static TinyModelGolden golden;
    static ClipTokenizer tokenizer;
    static Generator generator;
    static final List<String> notices = new ArrayList<>();

    @BeforeAll
    static void open() throws Exception {
        golden = TinyModelGolden.open(FIXTURE, dir, "scripts/golden-generate", "generate");
        assertEquals(PROMPT, golden.fixture.metadata().get("prompt"));
        assertEquals(NEGATIVE, golden.fixture.metadata().get("negative_prompt"));
        assertEquals(CFG, Double.parseDouble(golden.fixture.metadata().get("cfg")));
        assertEquals(STEPS, Integer.parseInt(golden.fixture.metadata().get("steps")));
        tokenizer = ClipTokenizer.locate(golden.checkpoint.path(), null);
        generator = new Generator(golden.checkpoint, Devices.host(), DType.F32, tokenizer, null, notices::add);
    }

    @AfterAll
    static void close() {
        if (generator != null) generator.close();
        if (golden != null) golden.close();
    }

    static GenerationRequest request(String prompt, String negative, SamplerKind sampler) {
        return new GenerationRequest(prompt, negative, sampler, STEPS, CFG, 0, PX, PX, 1, 1);
    }

    /** Runs sumi's pipeline from the fixture's noise; the latents after each step. */
    static List<float[]> sample(GenerationRequest r) throws Exception {
        float[] ancestral = golden.fixture.readFloats("ancestral_noise");   // (S, 1, 4, 16, 16)
        StepNoise fixtureNoise = (out, step) -> System.arraycopy(ancestral, step * out.length, out, 0, out.length);
        SampleResult result = generator.sample(r, golden.fixture.readFloats("noise"), fixtureNoise, true);
        assertEquals(STEPS, result.steps().size());
        return result.steps();
    }

    /** max |got - fixture[name]| / the budget of name. */
    static double errorOverBudget(String name, float[] got) throws Exception {
        float[] truth = golden.fixture.readFloats(name);
        double err = 0;
        for (int i = 0; i < truth.length; i++) err = Math.max(err, Math.abs((double) got[i] - truth[i]));
        return err / golden.budget(name, truth);
    }

    @Test
    void tokensAndContextMatchTransformers() throws Exception {
        List<String> rows = List.of(NEGATIVE, PROMPT);   // diffusers' CFG order: unconditional rows first
        var layout = generator.architecture().textEncoders().getFirst().config().layout();
        int[] ids = LongPromptEncoder.tokenIds(tokenizer, rows, ClipTokenizer.CHUNK_TOKENS, LongPromptEncoder.padToken(tokenizer, layout));
        assertArrayEquals(golden.fixture.data(golden.fixture.get("input_ids")).toArray(ValueLayout.JAVA_INT_UNALIGNED), ids, "token ids of CLIPTokenizer");
        golden.compare("context", generator.encode(rows, 1));
    }

    @ParameterizedTest
    @CsvSource({"EULER,euler", "EULER_A,euler_a", "DDIM,ddim", "DPMPP_2M_KARRAS,dpmpp_2m"})
    void everyStepMatchesDiffusers(SamplerKind kind, String key) throws Exception {
        List<float[]> steps = sample(request(PROMPT, NEGATIVE, kind));
        double worst = 0;
        for (int s = 0; s < STEPS; s++) worst = Math.max(worst, golden.compare(key + ".step" + s, steps.get(s)));
        System.out.printf("generate %s: worst error %.0f%% of its budget%n", key, 100 * worst);

        // a wrong sampler would fail: every other sampler's last latents lie far outside this budget
        float[] last = steps.get(STEPS - 1);
        double nearest = Double.POSITIVE_INFINITY;
        for (String other : SAMPLERS) {
            if (other.equals(key)) continue;
            double off = errorOverBudget(other + ".step" + (STEPS - 1), last);
            assertTrue(off > 100, key + " against " + other + "'s trajectory: only " + off + " x the budget");
            nearest = Math.min(nearest, off);
        }
        System.out.printf("generate %s: the nearest other sampler is %.0f x the budget off%n", key, nearest);

        if (key.equals(golden.fixture.metadata().get("decoded_sampler"))) {
            float[] pixels = generator.decoder().decodePixels(last, PX, PX);
            golden.compare("decoded", pixels);
            // diffusers' postprocess of both: the 8-bit images agree to within one level where a value sits on a rounding edge
            RgbImage got = ImageDecoder.toImage(pixels, PX, PX), want = ImageDecoder.toImage(golden.fixture.readFloats("decoded"), PX, PX);
            int worstLevel = 0;
            for (int i = 0; i < got.rgb().length; i++) worstLevel = Math.max(worstLevel, Math.abs((got.rgb()[i] & 0xff) - (want.rgb()[i] & 0xff)));
            assertTrue(worstLevel <= 1, "8-bit image off by " + worstLevel + " levels");
        }
    }

    @Test
    void aReversedGuidanceOrderFails() throws Exception {
        // prompt and negative swapped: the context rows are [prompt; negative], so the guidance is c + s (u - c)
        List<float[]> steps = sample(request(NEGATIVE, PROMPT, SamplerKind.DDIM));
        double off = errorOverBudget("ddim.step0", steps.getFirst());
        System.out.printf("generate: reversed CFG order, first DDIM step off by %.0f x the budget%n", off);
        assertTrue(off > 100, "a reversed CFG order is only " + off + " x the budget off");
    }
}
