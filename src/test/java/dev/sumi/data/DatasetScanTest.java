package dev.sumi.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetScanTest {
    @TempDir
    Path root;

    private void image(Path file) {
        TestImages.write(file, TestImages.pattern(8, 8, file.hashCode()), "png");
    }

    @Test
    void kohyaFoldersGiveSubsetsRepeatsClassTokensAndCaptions() {
        Path sks = root.resolve("10_sks dog");
        image(sks.resolve("a.png"));
        TestImages.writeText(sks.resolve("a.txt"), "sks dog, Sitting ,grass\nsecond line is ignored\n");
        image(sks.resolve("b.JPG"));                                   // no caption: class tokens
        image(sks.resolve(".hidden.png"));                             // hidden: skipped
        TestImages.writeText(sks.resolve("notes.gif"), "x");           // an image sumi does not read: warned
        Path style = root.resolve("3_style");
        image(style.resolve("c.webp.png"));
        TestImages.writeText(style.resolve("c.webp.caption"), "Grass, sky");
        image(root.resolve("unused/d.png"));                           // no repeats prefix: warned
        image(root.resolve("0_zero/e.png"));                           // repeats 0: warned
        image(root.resolve("stray.png"));                              // beside kohya folders: warned

        Dataset ds = DatasetScan.scan(root, 1, CaptionOptions.defaults());
        assertEquals(2, ds.subsets().size());
        Dataset.Subset first = ds.subsets().get(0), second = ds.subsets().get(1);
        assertEquals("10_sks dog", first.name());
        assertEquals(10, first.repeats());
        assertEquals("sks dog", first.classTokens());
        assertEquals(List.of("a.png", "b.JPG"), first.images().stream().map(i -> i.file().getFileName().toString()).toList());
        assertEquals("sks dog, Sitting ,grass", first.images().get(0).caption());
        assertEquals("sks dog", first.images().get(1).caption());
        assertFalse(first.images().get(1).hasCaptionFile());
        assertEquals(3, second.repeats());
        assertEquals("Grass, sky", second.images().get(0).caption());    // .caption found when .txt is absent
        assertEquals(3, ds.imageCount());
        assertEquals(10 * 2 + 3, ds.imagesWithRepeats());

        String problems = ds.problems().toString();
        for (String expected : new String[] {"notes.gif", "unused", "0_zero", "stray.png"})
            assertTrue(problems.contains(expected), expected + " in " + problems);
        assertTrue(ds.problems().stream().noneMatch(Dataset.Problem::fatal), problems);

        assertEquals(Map.of("10_sks dog", Map.of("sks dog", 2, "sitting", 1, "grass", 1), "3_style", Map.of("grass", 1, "sky", 1)),
                ds.tagFrequency());
        assertEquals(Map.of("10_sks dog", Map.of("n_repeats", 10, "img_count", 2), "3_style", Map.of("n_repeats", 3, "img_count", 1)),
                ds.datasetDirs());
    }

    @Test
    void plainFolderIsOneSubsetWithTheCallersRepeats() {
        image(root.resolve("x.png"));
        image(root.resolve("y.bmp"));
        TestImages.writeText(root.resolve("y.txt"), "from txt");
        TestImages.writeText(root.resolve("y.caption"), "from caption");
        Dataset ds = DatasetScan.scan(root, 4, CaptionOptions.defaults());
        assertEquals(1, ds.subsets().size());
        Dataset.Subset s = ds.subsets().getFirst();
        assertEquals(4, s.repeats());
        assertNull(s.classTokens());
        assertEquals("", s.images().get(0).caption());
        assertEquals("from txt", s.images().get(1).caption());         // .txt first by default

        Dataset explicit = DatasetScan.scan(root, 1, new CaptionOptions("caption", null, null, false, 0));
        assertEquals("from caption", explicit.subsets().getFirst().images().get(1).caption());
    }

    @Test
    void badCaptionFilesAndEmptyFoldersAreErrors() {
        image(root.resolve("a.png"));
        TestImages.writeText(root.resolve("a.txt"), "");
        image(root.resolve("b.png"));
        TestImages.write(root.resolve("b.txt"), new byte[] {(byte) 0xC3, (byte) 0x28});
        Dataset ds = DatasetScan.scan(root, 1, CaptionOptions.defaults());
        List<String> errors = ds.problems().stream().filter(Dataset.Problem::fatal).map(Dataset.Problem::message).toList();
        assertEquals(2, errors.size(), errors.toString());
        assertTrue(errors.get(0).contains("a.txt") && errors.get(0).contains("empty"), errors.get(0));
        assertTrue(errors.get(1).contains("b.txt") && errors.get(1).contains("UTF-8"), errors.get(1));

        Path empty = root.resolve("nothing");
        TestImages.writeText(empty.resolve("readme.md"), "no images");
        assertTrue(DatasetScan.scan(empty, 1, CaptionOptions.defaults()).problems().stream().anyMatch(Dataset.Problem::fatal));
        assertThrows(DataException.class, () -> DatasetScan.scan(root.resolve("missing"), 1, CaptionOptions.defaults()));
    }

    @Test
    void captionPrefixSuffixAndShuffleWithKeepTokens() {
        CaptionOptions prefix = CaptionOptions.defaults().withPrefix("sks");
        assertEquals("sks a dog, grass", Captions.process("a dog, grass", prefix, new Random(1)));

        CaptionOptions shuffle = prefix.withShuffle(true, 1);
        List<String> orders = new ArrayList<>();
        Random rng = new Random(42);
        for (int i = 0; i < 20; i++) {
            String text = Captions.process("a dog,  grass, sky ,sun", shuffle, rng);
            String[] tags = text.split(", ");
            assertEquals("sks a dog", tags[0]);                         // kept: the first tag with the prefix in it
            assertEquals(List.of("grass", "sky", "sun"), List.of(tags).subList(1, 4).stream().sorted().toList());
            orders.add(text);
        }
        assertTrue(orders.stream().distinct().count() > 1, "shuffle never changed the order");
        // seeded: the same RNG seed gives the same text
        assertEquals(Captions.process("a, b, c, d", shuffle, new Random(7)), Captions.process("a, b, c, d", shuffle, new Random(7)));
    }

    @Test
    void repeatsPrefixParsing() {
        assertEquals(10, DatasetScan.repeatsOf(Path.of("10_sks dog")));
        assertEquals(5, DatasetScan.repeatsOf(Path.of("5_")));
        assertNull(DatasetScan.repeatsOf(Path.of("dogs")));
        assertNull(DatasetScan.repeatsOf(Path.of("x10_dogs")));
        assertEquals(-1, DatasetScan.repeatsOf(Path.of("-1_dogs")));
    }
}
