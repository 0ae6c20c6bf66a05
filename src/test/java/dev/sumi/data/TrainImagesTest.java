package dev.sumi.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainImagesTest {
    @TempDir
    Path dir;

    @Test
    void centerCropAndScaleToMinusOneOne() {
        // 64x32 at fixed 32: scale 1 (height fits), crop columns 16..47, no resampling: values exact
        var source = TestImages.pattern(64, 32, 5);
        Path file = TestImages.write(dir.resolve("wide.png"), source, "png");
        Buckets buckets = new Buckets(BucketOptions.fixed(32));
        float[] chw = TrainImages.load(file, buckets);
        assertEquals(3 * 32 * 32, chw.length);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) {
                    int v = source.getRGB(x + 16, y) >> (16 - 8 * c) & 0xff;
                    assertEquals(v / 127.5f - 1f, chw[(c * 32 + y) * 32 + x], 0f);
                }
    }

    @Test
    void bucketShapeAndRangeAfterResize() {
        RgbImage image = ImageFiles.read(TestImages.write(dir.resolve("a.png"), TestImages.pattern(300, 200, 1), "png"));
        Buckets.Choice choice = new Buckets(BucketOptions.buckets(256)).select(300, 200);
        float[] chw = TrainImages.prepare(image, choice);
        assertEquals(3 * choice.bucket().width() * choice.bucket().height(), chw.length);
        for (float v : chw) {
            if (v < -1f || v > 1f) throw new AssertionError("value " + v + " outside [-1, 1]");
        }
    }

    @Test
    void flipMirrorsRowsAndMatchesAFlippedSource() {
        var source = TestImages.pattern(40, 20, 9);
        var mirrored = TestImages.rgb(40, 20, (x, y) -> source.getRGB(39 - x, y));
        Buckets buckets = new Buckets(BucketOptions.fixed(20));   // crop 10 columns each side: symmetric
        float[] a = TrainImages.load(TestImages.write(dir.resolve("a.png"), source, "png"), buckets);
        float[] b = TrainImages.load(TestImages.write(dir.resolve("b.png"), mirrored, "png"), buckets);
        float[] flipped = TrainImages.flipHorizontal(a, 3, 20, 20);
        assertArrayEquals(b, flipped, 0f);
        assertArrayEquals(a, TrainImages.flipHorizontal(flipped, 3, 20, 20), 0f);
        assertEquals(a[5], flipped[19 - 5], 0f);
    }
}
