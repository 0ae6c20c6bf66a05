package dev.sumi.data;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * Bucket sizes and the bucket of each image, by kohya sd-scripts' rules (model_util.make_bucket_resolutions and
 * train_util.BucketManager.select_bucket):
 * <ul>
 *   <li>the predefined list: the square of side floor(sqrt(max area) / steps) * steps, and for every width
 *       w = min, min + steps, ..., max the pair (w, h) and (h, w) with h = min(max, floor(max area / w / steps) *
 *       steps) where h >= min; max area = width * height of the resolution; sorted by (w, h);</li>
 *   <li>an image whose exact size is in the list uses it; otherwise the bucket whose aspect ratio w / h is nearest
 *       (the first in list order on a tie); the image is scaled so it covers the bucket (its relatively longer side
 *       overflows), sizes rounded half up, and the overflow is cropped centered;</li>
 *   <li>no_upscale: an image over the max area is scaled to it keeping its aspect ratio (whichever of width or
 *       height rounded to the step keeps the aspect ratio better), one under it keeps its size; the bucket is that
 *       size rounded down to the step, so the image is only cropped, never padded;</li>
 *   <li>buckets off: the single predefined bucket width x height, chosen as above (cover, then center crop).</li>
 * </ul>
 */
public final class Buckets {
    private final BucketOptions options;
    private final List<Reso> predefined;                 // sorted by (width, height); empty with no_upscale

    /** A bucket (or image) size in pixels. */
    public record Reso(int width, int height) implements Comparable<Reso> {
        public double aspect() {
            return (double) width / height;
        }

        @Override
        public int compareTo(Reso o) {
            return width != o.width ? Integer.compare(width, o.width) : Integer.compare(height, o.height);
        }

        @Override
        public String toString() {
            return width + "x" + height;
        }
    }

    /**
     * Where one image goes: its bucket, the size it is resized to before the center crop, and the crop offsets.
     *
     * @param arError bucket aspect ratio minus image aspect ratio (kohya logs the mean of its absolute value)
     */
    public record Choice(Reso bucket, Reso resized, double arError) {
        /** Left column of the crop in the resized image (kohya trims (resized - bucket) // 2). */
        public int cropLeft() {
            return (resized.width - bucket.width) / 2;
        }

        public int cropTop() {
            return (resized.height - bucket.height) / 2;
        }
    }

    public Buckets(BucketOptions options) {
        this.options = options;
        if (!options.enabled()) predefined = List.of(new Reso(options.width(), options.height()));
        else if (options.noUpscale()) predefined = List.of();
        else predefined = resolutions(options.width() * options.height(), options.minReso(), options.maxReso(), options.steps());
    }

    public BucketOptions options() {
        return options;
    }

    /** The predefined buckets (empty with no_upscale, where buckets come from the images). */
    public List<Reso> predefined() {
        return predefined;
    }

    /** kohya's make_bucket_resolutions for a max area (see the class comment). */
    public static List<Reso> resolutions(int maxArea, int minSize, int maxSize, int steps) {
        TreeSet<Reso> set = new TreeSet<>();
        int square = (int) Math.floor(Math.sqrt(maxArea) / steps) * steps;
        set.add(new Reso(square, square));
        for (int w = minSize; w <= maxSize; w += steps) {
            int h = Math.min(maxSize, (maxArea / w) / steps * steps);
            if (h >= minSize) {
                set.add(new Reso(w, h));
                set.add(new Reso(h, w));
            }
        }
        return List.copyOf(new ArrayList<>(set));
    }

    /** The bucket, resized size and crop for an image of the given (oriented) size. */
    public Choice select(int imageWidth, int imageHeight) {
        double aspect = (double) imageWidth / imageHeight;
        if (!options.enabled() || !options.noUpscale()) {
            Reso reso = new Reso(imageWidth, imageHeight);
            if (!predefined.contains(reso)) {
                reso = predefined.getFirst();
                double best = Math.abs(reso.aspect() - aspect);
                for (Reso r : predefined) {
                    double err = Math.abs(r.aspect() - aspect);
                    if (err < best) { best = err; reso = r; }
                }
            }
            double scale = aspect > reso.aspect() ? (double) reso.height / imageHeight : (double) reso.width / imageWidth;
            Reso resized = new Reso(roundHalfUp(imageWidth * scale), roundHalfUp(imageHeight * scale));
            return new Choice(reso, resized, reso.aspect() - aspect);
        }
        int steps = options.steps();
        long maxArea = (long) options.width() * options.height();
        Reso resized;
        if ((long) imageWidth * imageHeight > maxArea) {
            double rw = Math.sqrt(maxArea * aspect), rh = maxArea / rw;
            int bwRounded = roundToSteps(rw);
            int bhInWr = roundToSteps(bwRounded / aspect);
            int bhRounded = roundToSteps(rh);
            int bwInHr = roundToSteps(bhRounded * aspect);
            double arWidthRounded = (double) bwRounded / bhInWr, arHeightRounded = (double) bwInHr / bhRounded;
            resized = Math.abs(arWidthRounded - aspect) < Math.abs(arHeightRounded - aspect)
                    ? new Reso(bwRounded, roundHalfUp(bwRounded / aspect))
                    : new Reso(roundHalfUp(bhRounded * aspect), bhRounded);
        } else {
            resized = new Reso(imageWidth, imageHeight);
        }
        int bw = resized.width - resized.width % steps, bh = resized.height - resized.height % steps;
        if (bw == 0 || bh == 0)
            throw new DataException("image " + imageWidth + "x" + imageHeight + ": smaller than one bucket step ("
                    + steps + " px) with bucket_no_upscale");
        Reso bucket = new Reso(bw, bh);
        return new Choice(bucket, resized, bucket.aspect() - aspect);
    }

    /** Python's int(x + 0.5) for the non-negative sizes here. */
    static int roundHalfUp(double x) {
        return (int) (x + 0.5);
    }

    private int roundToSteps(double x) {
        int v = roundHalfUp(x);
        return v - v % options.steps();
    }
}
