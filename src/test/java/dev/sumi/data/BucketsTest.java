package dev.sumi.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class BucketsTest {
    private static Buckets.Reso r(int w, int h) {
        return new Buckets.Reso(w, h);
    }

    @Test
    void sd15BucketListAt512() {
        // by hand from make_bucket_resolutions: h = min(1024, 262144 / w // 64 * 64) for w = 256..1024 step 64,
        // both orientations, the 512 square, sorted by (w, h)
        List<Buckets.Reso> expected = List.of(r(256, 832), r(256, 896), r(256, 960), r(256, 1024), r(320, 704),
                r(320, 768), r(384, 640), r(448, 576), r(512, 512), r(576, 448), r(640, 384), r(704, 320), r(768, 320),
                r(832, 256), r(896, 256), r(960, 256), r(1024, 256));
        assertEquals(expected, new Buckets(BucketOptions.buckets(512)).predefined());
    }

    @Test
    void bucketListAt768() {
        // max area 589824: w=256 -> 2304 capped at 1024; 576 -> 1024; 640 -> 896; 704 -> 832; 768 -> 768
        List<Buckets.Reso> list = Buckets.resolutions(768 * 768, 256, 1024, 64);
        assertEquals(r(576, 1024), list.get(list.indexOf(r(576, 1024))));
        assertEquals(List.of(r(640, 896), r(704, 832), r(768, 768), r(832, 704), r(896, 640)),
                list.stream().filter(x -> x.width() >= 640 && x.height() >= 640).toList());
    }

    @Test
    void nearestAspectRatioThenCoverAndCenterCrop() {
        Buckets buckets = new Buckets(BucketOptions.buckets(512));
        // 1000x500 (ar 2.0): 704x320 (2.2) is nearest; ar 2.0 < 2.2 so width fits: scale 0.704 -> 704x352, crop 16 rows
        Buckets.Choice c = buckets.select(1000, 500);
        assertEquals(r(704, 320), c.bucket());
        assertEquals(r(704, 352), c.resized());
        assertEquals(0, c.cropLeft());
        assertEquals(16, c.cropTop());
        assertEquals(0.2, c.arError(), 1e-12);
        // an image exactly a bucket's size keeps it
        assertEquals(r(448, 576), buckets.select(448, 576).resized());
        // 300x200 (1.5): 640x384 (1.667) beats 576x448 (1.286); 1.5 < 1.667 so width fits: scale 640/300 ->
        // 640 x 426.67 -> 427, crop (427 - 384) // 2 = 21 rows
        Buckets.Choice small = buckets.select(300, 200);
        assertEquals(r(640, 384), small.bucket());
        assertEquals(r(640, 427), small.resized());
        assertEquals(21, small.cropTop());
    }

    @Test
    void noUpscaleKeepsSmallImagesAndShrinksLargeOnes() {
        Buckets buckets = new Buckets(BucketOptions.buckets(512).withNoUpscale(true));
        // under the max area: kept, bucket rounded down to 64: 300x200 -> 256x192, crop (22, 4)
        Buckets.Choice small = buckets.select(300, 200);
        assertEquals(r(300, 200), small.resized());
        assertEquals(r(256, 192), small.bucket());
        assertEquals(22, small.cropLeft());
        assertEquals(4, small.cropTop());
        // 2000x1000 over 512^2: width-rounded 704x320 (ar 2.2) vs height-rounded 640x320 (ar 2.0) -> 640x320
        Buckets.Choice big = buckets.select(2000, 1000);
        assertEquals(r(640, 320), big.resized());
        assertEquals(r(640, 320), big.bucket());
        assertThrows(DataException.class, () -> buckets.select(50, 400));
    }

    @Test
    void withoutBucketsEveryImageCoversTheSquare() {
        Buckets fixed = new Buckets(BucketOptions.fixed(512));
        Buckets.Choice c = fixed.select(800, 600);        // height fits: scale 512/600 -> 682.67 -> 683
        assertEquals(r(512, 512), c.bucket());
        assertEquals(r(683, 512), c.resized());
        assertEquals(85, c.cropLeft());
        assertEquals(0, c.cropTop());
        Buckets.Choice tall = fixed.select(100, 300);     // width fits: 512 x 1536, crop 512 rows
        assertEquals(r(512, 1536), tall.resized());
        assertEquals(512, tall.cropTop());
    }

    @Test
    void optionsAreAdjustedAndCheckedLikeKohya() {
        BucketOptions o = new BucketOptions(512, 512, true, 250, 1000, 64, false);
        assertEquals(192, o.minReso());
        assertEquals(1024, o.maxReso());
        assertThrows(DataException.class, () -> new BucketOptions(512, 512, true, 576, 1024, 64, false));
        assertThrows(DataException.class, () -> new BucketOptions(1024, 1024, true, 256, 768, 64, false));
    }
}
