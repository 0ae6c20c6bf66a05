package dev.sumi.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetCheckTest {
    @TempDir
    Path root;

    @Test
    void reportsUnreadableDuplicateTinyAndUncaptionedImages() throws Exception {
        Path dir = root.resolve("2_cat");
        var big = TestImages.pattern(64, 64, 1);
        Path a = TestImages.write(dir.resolve("a.png"), big, "png");
        TestImages.writeText(dir.resolve("a.txt"), "cat");
        Files.copy(a, dir.resolve("a-copy.png"));                                   // same bytes
        TestImages.writeText(dir.resolve("a-copy.txt"), "cat");
        TestImages.write(dir.resolve("a-as-bmp.bmp"), big, "bmp");                  // same pixels, other bytes
        TestImages.writeText(dir.resolve("a-as-bmp.txt"), "cat");
        TestImages.write(dir.resolve("tiny.png"), TestImages.pattern(20, 40, 2), "png");   // short side 20 < 32
        TestImages.writeText(dir.resolve("tiny.txt"), "cat");
        TestImages.write(dir.resolve("broken.jpg"), "\u00ff\u00d8 not really".getBytes());
        TestImages.write(dir.resolve("nocaption.png"), TestImages.pattern(64, 48, 3), "png");

        Dataset ds = DatasetScan.scan(root, 1, CaptionOptions.defaults());
        DatasetCheck.Report report = DatasetCheck.run(ds, BucketOptions.fixed(64));
        String text = report.toString();
        System.out.print(text);
        assertFalse(report.ok());
        assertEquals(1, report.errors().size(), text);
        assertTrue(report.errors().getFirst().message().contains("broken.jpg"), text);
        List<String> warnings = report.warnings().stream().map(Dataset.Problem::message).toList();
        assertEquals(4, warnings.size(), text);
        assertTrue(warnings.stream().anyMatch(w -> w.startsWith("duplicate files (same bytes)") && w.contains("a-copy.png")), text);
        assertTrue(warnings.stream().anyMatch(w -> w.startsWith("duplicate images (same pixels)") && w.contains("a-as-bmp.bmp")), text);
        assertTrue(warnings.stream().anyMatch(w -> w.contains("tiny.png") && w.contains("small image")), text);
        assertTrue(warnings.stream().anyMatch(w -> w.contains("nocaption.png") && w.contains("class tokens 'cat'")), text);
        assertEquals(6, report.images());
        assertEquals(12, report.imagesWithRepeats());
        assertTrue(text.startsWith("dataset: 6 images, 12 with repeats; 1 error(s), 4 warning(s)"), text);
    }

    @Test
    void cleanDatasetPassesAndFeedsThePlan() {
        for (int i = 0; i < 3; i++) {
            TestImages.write(root.resolve("img" + i + ".png"), TestImages.pattern(96 + 32 * i, 64, i), "png");
            TestImages.writeText(root.resolve("img" + i + ".txt"), "thing " + i);
        }
        Dataset ds = DatasetScan.scan(root, 2, CaptionOptions.defaults());
        BucketOptions options = new BucketOptions(64, 64, true, 64, 128, 32, false);
        DatasetCheck.Report report = DatasetCheck.run(ds, options);
        assertTrue(report.ok(), report.toString());
        assertTrue(report.warnings().isEmpty(), report.toString());

        var placed = Placement.place(ds, new Buckets(options));
        assertEquals(3, placed.size());
        var items = Placement.items(placed);
        int steps = EpochPlan.stepsPerEpoch(items, 2);
        assertEquals(steps, EpochPlan.plan(items, 2, 1, 1, true).size());
        var info = Placement.bucketInfo(placed);
        assertTrue(info.containsKey("buckets") && info.containsKey("mean_img_ar_error"), info.toString());
        // every planned batch loads to its bucket's shape, flipped samples mirrored
        int flips = 0;
        for (EpochPlan.Batch b : EpochPlan.plan(items, 2, 1, 1, true)) {
            int w = b.bucket().width(), h = b.bucket().height(), sample = 3 * h * w;
            float[] batch = TrainImages.loadBatch(b, placed);
            assertEquals(b.size() * sample, batch.length);
            for (int i = 0; i < b.size(); i++) {
                float[] chw = TrainImages.load(placed.get(b.indices()[i]).image().file(), new Buckets(options));
                if (b.flipped()[i]) { chw = TrainImages.flipHorizontal(chw, 3, h, w); flips++; }
                assertArrayEquals(chw, java.util.Arrays.copyOfRange(batch, i * sample, (i + 1) * sample), 0f);
            }
        }
        assertTrue(flips > 0, "this seed flips no sample: the flip path went untested");
    }
}
