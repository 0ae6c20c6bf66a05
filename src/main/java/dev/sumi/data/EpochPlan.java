package dev.sumi.data;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;

/**
 * One epoch's batches, kohya style (BaseDataset.make_buckets / shuffle_buckets / __getitem__): every image appears
 * repeats times in its bucket; each bucket is cut into batches of batchSize (the last one may be smaller); the
 * batches of all buckets are shuffled together and each bucket's images shuffled, from a RNG seeded with
 * (seed, epoch); with flip, each sample is flipped with probability 1/2 from the same RNG.
 * <p>Steps per epoch = sum over buckets b of ceil(n_b / batchSize), n_b = sum of repeats of the images in b; with
 * buckets off (one bucket) that is ceil(images x repeats / batchSize). The RNG is java.util.Random, not Python's, so
 * the order differs from kohya's while the counts match.
 */
public final class EpochPlan {
    private EpochPlan() {}

    /** One image of the dataset placed in a bucket (its index is the caller's: e.g. into a latent cache). */
    public record Item(int index, int repeats, Buckets.Reso bucket) {}

    /**
     * A batch: images from one bucket.
     *
     * @param indices Item.index of each sample (an image may appear twice when its repeats put it there)
     * @param flipped whether each sample uses the horizontally flipped image
     */
    public record Batch(Buckets.Reso bucket, int[] indices, boolean[] flipped) {
        public int size() {
            return indices.length;
        }
    }

    /** kohya's steps per epoch: sum over buckets of ceil(samples in the bucket / batchSize). */
    public static int stepsPerEpoch(List<Item> items, int batchSize) {
        int steps = 0;
        for (List<Integer> bucket : bucketed(items).values()) steps += (bucket.size() + batchSize - 1) / batchSize;
        return steps;
    }

    /** The batches of one epoch, in training order; the same (items, batchSize, seed, epoch, flip) give the same plan. */
    public static List<Batch> plan(List<Item> items, int batchSize, long seed, int epoch, boolean flip) {
        if (batchSize < 1) throw new DataException("batch size " + batchSize + ": must be 1 or more");
        Random rng = new Random(seed * 1_000_003L + epoch);
        var buckets = bucketed(items);
        record Slot(Buckets.Reso bucket, int batchIndex) {}
        List<Slot> slots = new ArrayList<>();
        for (var e : buckets.entrySet())
            for (int b = 0; b < (e.getValue().size() + batchSize - 1) / batchSize; b++) slots.add(new Slot(e.getKey(), b));
        Collections.shuffle(slots, rng);
        for (List<Integer> bucket : buckets.values()) Collections.shuffle(bucket, rng);
        List<Batch> batches = new ArrayList<>(slots.size());
        for (Slot slot : slots) {
            List<Integer> bucket = buckets.get(slot.bucket());
            int from = slot.batchIndex() * batchSize, to = Math.min(bucket.size(), from + batchSize);
            int[] indices = new int[to - from];
            boolean[] flipped = new boolean[to - from];
            for (int i = 0; i < indices.length; i++) {
                indices[i] = bucket.get(from + i);
                flipped[i] = flip && rng.nextDouble() < 0.5;
            }
            batches.add(new Batch(slot.bucket(), indices, flipped));
        }
        return batches;
    }

    /** Bucket (sorted by size, as kohya's BucketManager.sort) -> item indices, each repeated repeats times. */
    private static TreeMap<Buckets.Reso, List<Integer>> bucketed(List<Item> items) {
        var out = new TreeMap<Buckets.Reso, List<Integer>>();
        for (Item item : items) {
            if (item.repeats() < 1) throw new DataException("image " + item.index() + ": repeats " + item.repeats());
            List<Integer> bucket = out.computeIfAbsent(item.bucket(), k -> new ArrayList<>());
            for (int r = 0; r < item.repeats(); r++) bucket.add(item.index());
        }
        return out;
    }
}
