package dev.sumi.train;

import java.util.Arrays;

/**
 * The one source of training randomness (shuffles, flips, timesteps, noise, dropout), so that a run resumed from a
 * saved state draws exactly what the uninterrupted run would have drawn. xoshiro256** (Blackman and Vigna 2018):
 * four longs of state, seeded through splitmix64; Gaussians by Box-Muller, both values used in turn, so the
 * state is those four longs plus the spare Gaussian.
 */
public final class TrainRng {

    /** The full state; {@link #restore(State)} continues exactly where {@link #state()} was taken. */
    public record State(long s0, long s1, long s2, long s3, boolean hasSpare, double spare) {}

    private long s0, s1, s2, s3;
    private boolean hasSpare;
    private double spare;

    public TrainRng(long seed) {
        long x = seed;
        long[] s = new long[4];
        for (int i = 0; i < 4; i++) {
            x += 0x9E3779B97F4A7C15L;   // splitmix64: spreads any seed, even 0, over all four words
            long z = x;
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            s[i] = z ^ (z >>> 31);
        }
        s0 = s[0]; s1 = s[1]; s2 = s[2]; s3 = s[3];
    }

    public static TrainRng restore(State st) {
        if (st.s0() == 0 && st.s1() == 0 && st.s2() == 0 && st.s3() == 0) throw new IllegalArgumentException("RNG state is all zeros (corrupt state)");
        TrainRng r = new TrainRng(0);
        r.s0 = st.s0(); r.s1 = st.s1(); r.s2 = st.s2(); r.s3 = st.s3();
        r.hasSpare = st.hasSpare();
        r.spare = st.spare();
        return r;
    }

    public State state() {
        return new State(s0, s1, s2, s3, hasSpare, spare);
    }

    /** An independent stream for one purpose (e.g. the data loader), derived from this one's next output. */
    public TrainRng split() {
        return new TrainRng(nextLong());
    }

    public long nextLong() {
        long result = Long.rotateLeft(s1 * 5, 7) * 9;
        long t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = Long.rotateLeft(s3, 45);
        return result;
    }

    /** Uniform in [0, 1) with 53 random bits. */
    public double nextDouble() {
        return (nextLong() >>> 11) * 0x1.0p-53;
    }

    /** Uniform in [0, bound), without modulo bias (Lemire's multiply-and-reject). */
    public int nextInt(int bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound must be positive, not " + bound);
        long m = (nextLong() >>> 32) * bound;
        if ((m & 0xFFFFFFFFL) < bound) {
            long threshold = (0x1_0000_0000L - bound) % bound;
            while ((m & 0xFFFFFFFFL) < threshold) m = (nextLong() >>> 32) * bound;
        }
        return (int) (m >>> 32);
    }

    public boolean nextBoolean() {
        return nextLong() < 0;
    }

    /** Standard normal. */
    public double nextGaussian() {
        if (hasSpare) {
            hasSpare = false;
            return spare;
        }
        double u1 = 1.0 - nextDouble();   // (0, 1]: log stays finite
        double u2 = nextDouble();
        double r = Math.sqrt(-2.0 * Math.log(u1));
        spare = r * Math.sin(2 * Math.PI * u2);
        hasSpare = true;
        return r * Math.cos(2 * Math.PI * u2);
    }

    /** Fisher-Yates shuffle of a[0..n). */
    public void shuffle(int[] a) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }

    @Override
    public String toString() {
        return "TrainRng" + Arrays.toString(new long[] {s0, s1, s2, s3});
    }
}
