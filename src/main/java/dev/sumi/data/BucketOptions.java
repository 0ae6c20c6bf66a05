package dev.sumi.data;

/**
 * How images are sized for training (kohya's resolution, enable_bucket, min/max_bucket_reso, bucket_reso_steps,
 * bucket_no_upscale).
 *
 * @param width     training width (kohya --resolution W,H; a single number means square)
 * @param height    training height
 * @param enabled   aspect-ratio buckets; off: every image is resized to cover width x height and center-cropped
 * @param minReso   smallest bucket side (kohya default 256)
 * @param maxReso   largest bucket side (kohya default 1024)
 * @param steps     bucket sides are multiples of this (kohya default 64)
 * @param noUpscale buckets from each image's own size, downscaled to the max area only (min/max are then unused)
 */
public record BucketOptions(int width, int height, boolean enabled, int minReso, int maxReso, int steps,
                            boolean noUpscale) {
    public BucketOptions {
        if (width <= 0 || height <= 0) throw new DataException("resolution " + width + "x" + height + ": must be positive");
        if (enabled) {
            if (steps <= 0) throw new DataException("bucket_reso_steps " + steps + ": must be positive");
            // kohya adjusts min down and max up to multiples of the step (adjust_min_max_bucket_reso_by_steps)
            minReso -= minReso % steps;
            if (maxReso % steps != 0) maxReso += steps - maxReso % steps;
            if (Math.min(width, height) < minReso)
                throw new DataException("min_bucket_reso " + minReso + ": larger than the resolution " + width + "x" + height);
            if (Math.max(width, height) > maxReso)
                throw new DataException("max_bucket_reso " + maxReso + ": smaller than the resolution " + width + "x" + height);
        }
    }

    /** kohya's defaults with buckets on: min 256, max 1024, steps 64, upscaling allowed. */
    public static BucketOptions buckets(int resolution) {
        return new BucketOptions(resolution, resolution, true, 256, 1024, 64, false);
    }

    /** No buckets: every image becomes resolution x resolution. */
    public static BucketOptions fixed(int resolution) {
        return new BucketOptions(resolution, resolution, false, 0, 0, 0, false);
    }

    public BucketOptions withNoUpscale(boolean on) {
        return new BucketOptions(width, height, enabled, minReso, maxReso, steps, on);
    }
}
