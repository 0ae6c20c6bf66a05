package dev.sumi.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class EpochPlanTest {
    private static final Buckets.Reso SQUARE = new Buckets.Reso(512, 512), WIDE = new Buckets.Reso(704, 320);

    /** 5 square images x 3 repeats (15 samples) and 2 wide images x 2 repeats (4 samples). */
    private static List<EpochPlan.Item> items() {
        List<EpochPlan.Item> items = new ArrayList<>();
        for (int i = 0; i < 5; i++) items.add(new EpochPlan.Item(i, 3, SQUARE));
        for (int i = 5; i < 7; i++) items.add(new EpochPlan.Item(i, 2, WIDE));
        return items;
    }

    @Test
    void stepsAreCeilPerBucketAndEverySampleAppearsRepeatsTimes() {
        // ceil(15 / 4) + ceil(4 / 4) = 4 + 1
        assertEquals(5, EpochPlan.stepsPerEpoch(items(), 4));
        assertEquals(19, EpochPlan.stepsPerEpoch(items(), 1));
        assertEquals(3, EpochPlan.stepsPerEpoch(items(), 8));           // 2 + 1
        List<EpochPlan.Batch> plan = EpochPlan.plan(items(), 4, 7, 1, false);
        assertEquals(5, plan.size());
        int[] seen = new int[7];
        for (EpochPlan.Batch b : plan) {
            assertTrue(b.size() >= 1 && b.size() <= 4);
            for (int i : b.indices()) {
                seen[i]++;
                assertEquals(i < 5 ? SQUARE : WIDE, b.bucket(), "image " + i + " batched in the wrong bucket");
            }
            for (boolean f : b.flipped()) assertTrue(!f, "flip off but a sample is flipped");
        }
        assertArrayEquals(new int[] {3, 3, 3, 3, 3, 2, 2}, seen);
    }

    private static String describe(List<EpochPlan.Batch> plan) {
        StringBuilder sb = new StringBuilder();
        for (EpochPlan.Batch b : plan) sb.append(b.bucket()).append(java.util.Arrays.toString(b.indices()))
                .append(java.util.Arrays.toString(b.flipped())).append(';');
        return sb.toString();
    }

    @Test
    void seededAndDifferentPerEpoch() {
        String a = describe(EpochPlan.plan(items(), 2, 123, 1, true));
        assertEquals(a, describe(EpochPlan.plan(items(), 2, 123, 1, true)));
        assertNotEquals(a, describe(EpochPlan.plan(items(), 2, 123, 2, true)));
        assertNotEquals(a, describe(EpochPlan.plan(items(), 2, 124, 1, true)));
        int flipped = 0, total = 0;
        for (int epoch = 0; epoch < 20; epoch++)
            for (EpochPlan.Batch b : EpochPlan.plan(items(), 2, 5, epoch, true))
                for (boolean f : b.flipped()) { total++; if (f) flipped++; }
        // 380 fair coin flips: 3.5 standard deviations (about 34) either side of 190
        assertTrue(Math.abs(flipped - total / 2) < 35, flipped + " of " + total + " flipped");
    }
}
