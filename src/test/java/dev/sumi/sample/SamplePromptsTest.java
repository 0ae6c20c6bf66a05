package dev.sumi.sample;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** kohya's preview prompt lines, read as line_to_prompt_dict reads them. */
class SamplePromptsTest {

    @Test
    void everyOptionOfKohyasLineFormat() {
        SamplePrompts.Prompt p = SamplePrompts.parse("masterpiece, 1girl, red hair --n lowres, bad hands --w 640 --h 768 --d 42 --s 28 --l 6.5 --ss euler", 3);
        assertEquals(3, p.index());
        assertEquals("masterpiece, 1girl, red hair", p.prompt());
        assertEquals("lowres, bad hands", p.negative());
        assertEquals(640, p.width());
        assertEquals(768, p.height());
        assertEquals(42L, p.seed());
        assertEquals(28, p.steps());
        assertEquals(6.5, p.cfgScale());
        assertEquals("euler", p.sampler());
    }

    @Test
    void kohyasQuirks() {
        // options are case insensitive and matched from their start; unknown ones are ignored; steps are clamped
        SamplePrompts.Prompt p = SamplePrompts.parse("a cat --W 64 --S 5000 --x what --n", 0);
        assertEquals(64, p.width());
        assertEquals(1000, p.steps());
        assertNull(p.negative(), "\"--n\" with nothing after it matches no option");
        assertEquals("a cat", p.prompt());
        // a "--" without the space before it is part of the prompt
        assertEquals("a--b", SamplePrompts.parse("a--b --d 1", 0).prompt());
    }

    @Test
    void requestsTakeKohyasDefaultsAndRoundSizesDownToEight() {
        GenerationRequest r = SamplePrompts.parse("a cat --w 100", 0).request(512, 512, SamplerKind.EULER_A, 9, 2);
        assertEquals(96, r.width());
        assertEquals(512, r.height());
        assertEquals(30, r.steps());
        assertEquals(7.5, r.cfgScale());
        assertEquals(9, r.seed());
        assertEquals(2, r.clipSkip());
        assertEquals(SamplerKind.EULER_A, r.sampler());
        assertEquals(SamplerKind.DPMPP_2M_KARRAS, SamplePrompts.parse("a --ss dpmpp_2m_karras", 0).request(64, 64, SamplerKind.EULER_A, 1, 1).sampler());
    }

    @Test
    void filesSkipBlankAndCommentLinesAndReportBadLinesWithTheirNumber(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("prompts.txt");
        Files.writeString(f, "# previews\n\na red square --d 1\n  \nblue circle --ss euler\n");
        List<SamplePrompts.Prompt> ps = SamplePrompts.read(f);
        assertEquals(2, ps.size());
        assertEquals(1, ps.get(1).index());
        Files.writeString(f, "ok\nbad --ss heun\n");
        IOException e = assertThrows(IOException.class, () -> SamplePrompts.read(f));
        assertTrue(e.getMessage().startsWith(f + ":2: unknown sampler 'heun'"), e.getMessage());
        Files.writeString(f, "# nothing\n");
        assertThrows(IOException.class, () -> SamplePrompts.read(f));
        assertTrue(assertThrows(IOException.class, () -> SamplePrompts.read(dir.resolve("p.toml"))).getMessage().contains(".txt"));
        assertTrue(assertThrows(IOException.class, () -> SamplePrompts.read(dir.resolve("missing.txt"))).getMessage().contains("no such preview prompt file"));
    }
}
