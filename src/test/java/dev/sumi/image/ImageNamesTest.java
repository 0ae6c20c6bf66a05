package dev.sumi.image;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.sumi.data.RgbImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageNamesTest {
    @TempDir
    Path dir;

    @Test
    void counterPrefixReadsNamesAsA1111Does() {
        assertEquals(3L, ImageNames.counterPrefix("00003-5.png"));
        assertEquals(12L, ImageNames.counterPrefix("00012"));
        assertEquals(7L, ImageNames.counterPrefix(" 7 -x.png"));
        assertEquals(5L, ImageNames.counterPrefix("+5-a.txt"));
        assertNull(ImageNames.counterPrefix("4.tar.gz")); // splitext drops only the last extension: int("4.tar") fails
        assertNull(ImageNames.counterPrefix("4.5.png")); // "4.5" is no int
        assertNull(ImageNames.counterPrefix("grid-0004.png"));
        assertNull(ImageNames.counterPrefix(".00099-1.png.123.tmp")); // sumi's temp files never count
        assertNull(ImageNames.counterPrefix("-3.png"));
        assertNull(ImageNames.counterPrefix("1e3-x.png"));
        assertNull(ImageNames.counterPrefix("99999999999999999999-1.png"));
    }

    @Test
    void nextNumberIsOnePastTheLargestPrefix() throws Exception {
        assertEquals(0, ImageNames.nextSequenceNumber(dir.resolve("missing")));
        assertEquals(0, ImageNames.nextSequenceNumber(dir));
        for (String name : new String[] {"00003-5.png", "00010-7.txt", "grid-0004.png", "notes", "00012"})
            Files.writeString(dir.resolve(name), "");
        assertEquals(13, ImageNames.nextSequenceNumber(dir));
        Files.createDirectory(dir.resolve("00020-folder")); // os.listdir lists folders too
        assertEquals(21, ImageNames.nextSequenceNumber(dir));
    }

    @Test
    void writeNextNumbersFilesInOrder() throws Exception {
        RgbImage img = PngFileTest.noise(4, 4, 1);
        Path out = dir.resolve("outputs");
        assertEquals(out.resolve("00000-42.png"), ImageNames.writeNext(out, 42, img, Map.of("parameters", "a")));
        assertEquals(out.resolve("00001-42.png"), ImageNames.writeNext(out, 42, img, Map.of()));
        Files.writeString(out.resolve("00007-1.png"), "");
        Path p = ImageNames.writeNext(out, -3, img, Map.of("parameters", "b"));
        assertEquals(out.resolve("00008--3.png"), p);
        assertEquals(Map.of("parameters", "b"), PngFile.readText(Files.readAllBytes(p)));
        assertEquals("123456-7.png", ImageNames.fileName(123456, 7));
    }

    @Test
    void concurrentWritersGetDistinctNames() throws Exception {
        int writers = 8;
        ExecutorService pool = Executors.newFixedThreadPool(writers);
        CountDownLatch start = new CountDownLatch(1);
        List<Future<Path>> results = new ArrayList<>();
        try {
            for (int w = 0; w < writers; w++) {
                long seed = w;
                results.add(pool.submit(() -> {
                    start.await();
                    return ImageNames.writeNext(dir, 1000, PngFileTest.noise(16, 16, seed), Map.of("parameters", "seed " + seed));
                }));
            }
            start.countDown();
            List<String> names = new ArrayList<>();
            for (Future<Path> f : results) names.add(f.get().getFileName().toString());
            names.sort(null);
            List<String> expected = new ArrayList<>();
            for (int i = 0; i < writers; i++) expected.add(String.format("%05d-1000.png", i));
            assertEquals(expected, names);
        } finally {
            pool.shutdownNow();
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(writers, files.count(), "no temp files left");
        }
        for (int i = 0; i < writers; i++)
            assertEquals(1, PngFile.readText(Files.readAllBytes(dir.resolve(String.format("%05d-1000.png", i)))).size());
    }
}
