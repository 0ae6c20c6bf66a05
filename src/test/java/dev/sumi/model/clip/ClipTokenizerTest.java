package dev.sumi.model.clip;

import dev.sumi.tensor.safetensors.Json;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * sumi's CLIP tokenizer against OpenAI's own (clip/simple_tokenizer.py) on varied prompts
 * (src/test/resources/golden/clip_tokens.jsonl, made by scripts/golden-tokenizer), with OpenAI's
 * vocabulary from ../shared/data/clip (test data only; the product never reads ../shared).
 */
class ClipTokenizerTest {

    static ClipTokenizer clip;

    @BeforeAll
    static void load() throws IOException {
        Path bpe = Path.of("..", "shared", "data", "clip", "bpe_simple_vocab_16e6.txt.gz");
        if (!Files.exists(bpe)) bpe = Path.of(System.getProperty("user.dir")).resolveSibling("shared").resolve("data/clip/bpe_simple_vocab_16e6.txt.gz");
        clip = ClipTokenizer.fromOpenAiBpe(bpe);
    }

    @Test
    @SuppressWarnings("unchecked")
    void matchesOpenAisTokenizer() throws Exception {
        assertEquals(49408, clip.vocabSize());
        assertEquals(49406, clip.bos);
        assertEquals(49407, clip.eos);
        int cases = 0;
        try (InputStream in = getClass().getResourceAsStream("/golden/clip_tokens.jsonl")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (line.isBlank()) continue;
                Map<String, Object> c = (Map<String, Object>) Json.parse(line);
                String text = (String) c.get("text");
                int[] want = ((List<Object>) c.get("ids")).stream().mapToInt(o -> Integer.parseInt(((Json.Num) o).text())).toArray();
                assertArrayEquals(want, clip.encode(text), "ids of '" + text + "'");
                cases++;
            }
        }
        assertEquals(20, cases);
    }

    @Test
    void longPromptsAreChunkedAsKohyaDoes() {
        String text = "a " + "very ".repeat(90) + "long prompt";
        int[] tokens = clip.encode(text);
        assertTrue(tokens.length > 75 && tokens.length < 150, "" + tokens.length);
        int[][] one = clip.encodeChunks(text, 75, clip.eos);
        assertEquals(1, one.length);
        assertEquals(clip.bos, one[0][0]);
        assertArrayEquals(Arrays.copyOf(tokens, 75), Arrays.copyOfRange(one[0], 1, 76));
        assertEquals(clip.eos, one[0][76]);   // truncated: the chunk still ends with EOS

        int[][] two = clip.encodeChunks(text, 150, clip.eos);
        assertEquals(2, two.length);
        assertArrayEquals(Arrays.copyOfRange(tokens, 75, tokens.length), Arrays.copyOfRange(two[1], 1, 1 + tokens.length - 75));
        assertEquals(clip.eos, two[1][1 + tokens.length - 75]);
        for (int[] chunk : two) {
            assertEquals(77, chunk.length);
            assertEquals(clip.bos, chunk[0]);
        }

        int[][] short3 = clip.encodeChunks("a cat", 225, 0);   // SD 2.x pads with 0
        assertEquals(3, short3.length);
        assertArrayEquals(new int[] {clip.bos, 320, 2368, clip.eos, 0}, Arrays.copyOf(short3[0], 5));
        assertEquals(clip.eos, short3[1][1]);   // a chunk of padding starts with EOS
        assertEquals(0, short3[1][76]);
        assertThrows(IllegalArgumentException.class, () -> clip.encodeChunks("x", 100, clip.eos));
    }

    @Test
    void theTinyModelsOwnTokenizerRoundTripsThroughTheHuggingFaceLayout(@TempDir Path dir) throws IOException {
        TokenizerBuilder.Bpe bpe = TokenizerBuilder.tiny(500);
        TokenizerBuilder.write(bpe, dir);
        ClipTokenizer t = ClipTokenizer.fromHuggingFace(dir);
        assertEquals(bpe.size(), t.vocabSize());
        int[] ids = t.encode("a photo of a red circle");
        assertTrue(ids.length >= 5 && ids.length <= 8, Arrays.toString(ids));   // learnt merges make whole words
        for (int id : ids) assertTrue(id < t.vocabSize());
        assertEquals(t.vocabSize() - 1, t.eos);
    }
}
