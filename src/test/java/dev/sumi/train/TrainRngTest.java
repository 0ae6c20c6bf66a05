package dev.sumi.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainRngTest {

    @Test
    void restoredStateContinuesExactly() {
        TrainRng a = new TrainRng(42);
        for (int i = 0; i < 7; i++) a.nextGaussian();   // odd count: a spare Gaussian is pending
        TrainRng b = TrainRng.restore(a.state());
        for (int i = 0; i < 100; i++) {
            assertEquals(Double.doubleToRawLongBits(a.nextGaussian()), Double.doubleToRawLongBits(b.nextGaussian()));
            assertEquals(a.nextInt(1000), b.nextInt(1000));
        }
        assertEquals(new TrainRng(1).nextLong(), new TrainRng(1).nextLong());
        assertNotEquals(new TrainRng(1).nextLong(), new TrainRng(2).nextLong());
        assertThrows(IllegalArgumentException.class, () -> TrainRng.restore(new TrainRng.State(0, 0, 0, 0, false, 0)));
    }

    @Test
    void gaussianMomentsAndUniformBounds() {
        TrainRng r = new TrainRng(3);
        int n = 200_000;
        double sum = 0, sq = 0;
        for (int i = 0; i < n; i++) {
            double g = r.nextGaussian();
            sum += g;
            sq += g * g;
        }
        double mean = sum / n, var = sq / n - mean * mean;
        assertEquals(0, mean, 5 / Math.sqrt(n));
        assertEquals(1, var, 5 * Math.sqrt(2.0 / n));
        for (int i = 0; i < 10000; i++) {
            int k = r.nextInt(7);
            assertTrue(k >= 0 && k < 7);
            double d = r.nextDouble();
            assertTrue(d >= 0 && d < 1);
        }
        int[] perm = {0, 1, 2, 3, 4, 5};
        r.shuffle(perm);
        assertEquals(15, java.util.Arrays.stream(perm).sum());
        assertEquals(6, java.util.Arrays.stream(perm).distinct().count());
    }
}
