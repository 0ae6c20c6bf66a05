package dev.sumi.train;

import dev.sumi.data.ImageFiles;
import dev.sumi.data.Placement;
import dev.sumi.data.TrainImages;
import dev.sumi.device.Device;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.LdmComponent;
import dev.sumi.model.SharedWeights;
import dev.sumi.model.vae.Vae;
import dev.sumi.model.vae.VaeConfig;
import dev.sumi.model.vae.VaeLayout;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.List;
import java.util.function.IntConsumer;

/**
 * The training images as UNet latents, encoded once before the first step (kohya's cache_latents): per placed
 * image one sample of the VAE posterior times the scaling factor, and with flip augmentation the mirrored image's
 * as well (encoded, not mirrored latents: the VAE is not mirror-symmetric). Kept on the host in F32 (16 K values
 * per 512 px image), so the VAE's device memory is free again before training starts.
 *
 * <p>The VAE runs in F32 whatever the training precision: the SD VAE overflows F16 at high resolutions, and an
 * encode per image is not where time goes. The posterior sample draws from its own {@link TrainRng} seeded by the
 * run's seed, so a resumed run rebuilds the same cache.
 */
public final class LatentCache {
    private final float[][] plain, flipped;   // [image] (z, h / f, w / f) for the image's bucket; flipped null without flip
    private final int channels, factor;

    private LatentCache(float[][] plain, float[][] flipped, int channels, int factor) {
        this.plain = plain;
        this.flipped = flipped;
        this.channels = channels;
        this.factor = factor;
    }

    /**
     * Encodes every image of {@code placed} with the checkpoint's VAE on {@code device}; {@code done} hears the
     * number of images encoded so far. Images are encoded bucket by bucket so each VAE shape is built once, with one
     * copy of the weights shared by all of them.
     */
    public static LatentCache encode(Checkpoint checkpoint, VaeConfig config, Device device, List<Placement.Placed> placed,
                                     boolean flip, long seed, IntConsumer done) {
        float[][] plain = new float[placed.size()][], mirrored = flip ? new float[placed.size()][] : null;
        TrainRng rng = new TrainRng(seed ^ 0x5EED_CAC4EL);
        try (SharedWeights weights = SharedWeights.load(checkpoint, LdmComponent.VAE.prefix, VaeLayout.parameters(config), device, DType.F32)) {
            List<Placement.Placed> order = placed.stream()
                    .sorted(java.util.Comparator.comparing((Placement.Placed p) -> p.choice().bucket()).thenComparingInt(Placement.Placed::index))
                    .toList();
            Vae vae = null;
            Tensor image = null;
            int count = 0;
            try {
                for (Placement.Placed p : order) {
                    int w = p.choice().bucket().width(), h = p.choice().bucket().height();
                    if (vae == null || vae.width() != w || vae.height() != h) {
                        if (vae != null) {
                            vae.close();
                            image.close();
                        }
                        vae = new Vae(config, weights.lend(), device, DType.F32, 1, h, w);
                        image = Tensor.allocate(device, DType.F32, 1, 3, h, w);
                    }
                    float[] chw = TrainImages.prepare(ImageFiles.read(p.image().file()), p.choice());
                    plain[p.index()] = encodeOne(vae, image, chw, config, rng);
                    if (flip) mirrored[p.index()] = encodeOne(vae, image, TrainImages.flipHorizontal(chw, 3, h, w), config, rng);
                    done.accept(++count);
                }
            } finally {
                if (vae != null) vae.close();
                if (image != null) image.close();
            }
        }
        return new LatentCache(plain, mirrored, config.zChannels(), config.downscale());
    }

    /** z = (mean + exp(logvar / 2) eps) * scaling factor, eps ~ N(0, 1), logvar clamped as diffusers does. */
    private static float[] encodeOne(Vae vae, Tensor image, float[] chw, VaeConfig config, TrainRng rng) {
        image.copyFrom(chw);
        Tensor[] posterior = vae.encode(image);
        float[] mean = posterior[0].toFloats(), logvar = posterior[1].toFloats(), z = new float[mean.length];
        for (int i = 0; i < z.length; i++) {
            double lv = Math.max(-30.0, Math.min(20.0, logvar[i]));
            z[i] = (float) ((mean[i] + Math.exp(0.5 * lv) * rng.nextGaussian()) * config.scalingFactor());
        }
        return z;
    }

    /** (z, h / f, w / f) of image {@code index}, its mirrored version when {@code flipped}. */
    public float[] latents(int index, boolean flipped) {
        if (flipped && this.flipped == null) throw new IllegalStateException("latents: flip augmentation was off when the cache was built");
        return flipped ? this.flipped[index] : plain[index];
    }

    public int channels() {
        return channels;
    }

    /** Pixels per latent along each axis. */
    public int factor() {
        return factor;
    }
}
