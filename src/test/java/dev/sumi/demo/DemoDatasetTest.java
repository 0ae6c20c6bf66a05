package dev.sumi.demo;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DemoDatasetTest {

    @Test
    void writesCaptionedImagesInKohyaFolderConventionDeterministically(@TempDir Path tmp) throws Exception {
        Path a = DemoDataset.write(tmp.resolve("a"), 8, 10, 7);
        Path b = DemoDataset.write(tmp.resolve("b"), 8, 10, 7);
        assertEquals("10_sumi", a.getFileName().toString());
        for (int i = 0; i < 8; i++) {
            String stem = String.format("img_%02d", i);
            BufferedImage image = ImageIO.read(a.resolve(stem + ".png").toFile());
            assertNotNull(image, stem);
            assertTrue(image.getWidth() >= 64 && image.getHeight() >= 64, stem + " is at least 64 px");
            String caption = Files.readString(a.resolve(stem + ".txt"));
            assertTrue(caption.matches("a (red|blue|green|yellow) (circle|square|triangle|diamond) on a pale background, ink border"), caption);
            assertArrayEquals(Files.readAllBytes(a.resolve(stem + ".png")), Files.readAllBytes(b.resolve(stem + ".png")), stem + ": same seed, same bytes");
        }
        // a rerun leaves the files alone
        long before = Files.getLastModifiedTime(a.resolve("img_00.png")).toMillis();
        DemoDataset.write(tmp.resolve("a"), 8, 10, 7);
        assertEquals(before, Files.getLastModifiedTime(a.resolve("img_00.png")).toMillis());
    }
}
