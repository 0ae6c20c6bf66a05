package dev.sumi.data;

import java.nio.file.Path;
import java.util.List;

/**
 * Turns a training image into the VAE's input: decoded, resized to cover its bucket, center-cropped, scaled to
 * [-1, 1] (x / 127.5 - 1, torchvision's ToTensor + Normalize(0.5, 0.5) in kohya), in CHW layout. The horizontally
 * flipped copy (kohya's flip_aug, cached as a second latent) is a mirror of the cropped image, so it is exact and
 * deterministic.
 */
public final class TrainImages {
    private TrainImages() {}

    /**
     * Decodes and prepares one file for its bucket.
     *
     * @return (3, bucket.height, bucket.width) in [-1, 1]
     */
    public static float[] load(Path file, Buckets buckets) {
        RgbImage image = ImageFiles.read(file);
        return prepare(image, buckets.select(image.width(), image.height()));
    }

    /**
     * Resizes, crops and normalizes a decoded image for the bucket chosen for it.
     *
     * @return (3, choice.bucket.height, choice.bucket.width) in [-1, 1]
     */
    public static float[] prepare(RgbImage image, Buckets.Choice choice) {
        int w = image.width(), h = image.height();
        float[] planar = new float[3 * h * w];                                  // (3, h, w) 0..255
        byte[] rgb = image.rgb();
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) planar[(c * h + y) * w + x] = rgb[(y * w + x) * 3 + c] & 0xff;
        Buckets.Reso resized = choice.resized(), bucket = choice.bucket();
        float[] scaled = Resample.resize(planar, 3, w, h, resized.width(), resized.height(),
                Resample.defaultFilter(w, h, resized.width(), resized.height()));   // (3, rh, rw)
        if (resized.width() < bucket.width() || resized.height() < bucket.height())
            throw new IllegalStateException("resized " + resized + " does not cover bucket " + bucket);
        int left = choice.cropLeft(), top = choice.cropTop(), bw = bucket.width(), bh = bucket.height();
        float[] out = new float[3 * bh * bw];                                   // (3, bh, bw) [-1, 1]
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < bh; y++)
                for (int x = 0; x < bw; x++)
                    out[(c * bh + y) * bw + x] =
                            scaled[(c * resized.height() + top + y) * resized.width() + left + x] / 127.5f - 1f;
        return out;
    }

    /**
     * Loads one planned batch: each sample prepared for the batch's bucket, flipped where the plan says.
     *
     * @param placed the list {@link Placement#place} returned (the batch's indices point into it)
     * @return (batch, 3, bucket.height, bucket.width) in [-1, 1]
     */
    public static float[] loadBatch(EpochPlan.Batch batch, List<Placement.Placed> placed) {
        int bw = batch.bucket().width(), bh = batch.bucket().height(), sample = 3 * bh * bw;
        float[] out = new float[batch.size() * sample];                         // (B, 3, bh, bw)
        for (int i = 0; i < batch.size(); i++) {
            Placement.Placed p = placed.get(batch.indices()[i]);
            if (!p.choice().bucket().equals(batch.bucket()))
                throw new IllegalArgumentException(p.image().file() + ": bucket " + p.choice().bucket() + ", batch " + batch.bucket());
            float[] chw = prepare(ImageFiles.read(p.image().file()), p.choice());
            if (batch.flipped()[i]) chw = flipHorizontal(chw, 3, bh, bw);
            System.arraycopy(chw, 0, out, i * sample, sample);
        }
        return out;
    }

    /**
     * The image mirrored left to right.
     *
     * @param chw (channels, height, width)
     * @return (channels, height, width)
     */
    public static float[] flipHorizontal(float[] chw, int channels, int height, int width) {
        if (chw.length != channels * height * width) throw new IllegalArgumentException("flip: size mismatch");
        float[] out = new float[chw.length];
        for (int row = 0; row < channels * height; row++)
            for (int x = 0; x < width; x++) out[row * width + x] = chw[row * width + width - 1 - x];
        return out;
    }
}
