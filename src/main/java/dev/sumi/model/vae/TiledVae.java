package dev.sumi.model.vae;

import dev.sumi.device.Device;
import dev.sumi.model.Checkpoint;
import dev.sumi.ops.BasicOps;
import dev.sumi.ops.TileOps;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * {@link Vae} encode and decode of B images of any H x W (multiples of f) through one VAE built for a
 * fixed tile, so the activations, the conv workspace and the (P, P) attention scores are those of a
 * tile whatever the image size (SD 1.5 at 1024 x 1024 px decodes with 512 px tiles' buffers).
 *
 * <p>Tiles are {@code tile} latents square (fewer along an axis shorter than that), placed along each axis
 * at n positions spread evenly from 0 to size - tile, n = ceil((size - overlap) / (tile - overlap)), so
 * neighbours overlap by at least {@code overlap} latents and every tile has the VAE's size. Each tile is
 * cut out of the input ({@link TileOps#crop}), run through the VAE, and added into an F32 accumulator
 * with a weight that ramps linearly across each overlap with a neighbour ({@link TileOps#blendAccumulate};
 * none on image borders); the output is the accumulator over the summed weight ({@link TileOps#blendNormalize}).
 * Decode blends in pixels (ramps of overlap * f), encode in latents (mean and logvar separately).
 *
 * <p>This is the scheme of diffusers' AutoencoderKL.tiled_decode / tiled_encode with blend_v / blend_h
 * (huggingface/diffusers, src/diffusers/models/autoencoders/autoencoder_kl.py; defaults
 * tile_sample_min_size 512, tile_latent_min_size 64, tile_overlap_factor 0.25, i.e. 64-latent tiles,
 * 16-latent overlap), with three differences: diffusers steps tiles by tile - overlap and lets the last
 * ones be smaller (the VAE takes any size); here all tiles have the one VAE's size, spread evenly. diffusers
 * weighs row y of an overlap of e by y / e (so the new tile's first row gets 0), then crops each tile to
 * its first tile - overlap rows and concatenates; here the ramp is sampled at pixel centres, (y + 0.5) / e,
 * symmetric for both tiles, and normalising by the summed weight keeps a partition of unity where the even
 * spread makes three tiles overlap.
 *
 * <p>The blend hides seams; it does not make tiles exact. The VAE is not local: GroupNorm statistics are
 * taken over a whole tile and the mid-block attention spans the whole latent tile, so a tile's pixels
 * differ from the untiled VAE's everywhere, by an amount that depends on how far the tile's statistics are
 * from the image's (small for natural images, which is why diffusers' tiling works; see TiledVaeTest).
 *
 * <p>Everything (the tile VAE, the tile inputs, the F32 accumulators and the outputs) is allocated by the
 * constructor; {@link #encode} and {@link #decode} allocate nothing and make no host round trip.
 */
public final class TiledVae implements AutoCloseable {

    /** diffusers' defaults: 512 px tiles (64 latents at f = 8) overlapping by 25 %. */
    public static final int DEFAULT_TILE = 64, DEFAULT_OVERLAP = 16;

    private final Vae vae;
    private final int batch, height, width, h, w, f, z, overlap;
    private final int[] ys, xs;                    // tile positions in latents
    private final List<Tensor> owned = new ArrayList<>();
    private final Tensor latentTile, imageTile;    // the VAE's inputs
    private final Tensor imageAcc, imageWeight, image;
    private final Tensor meanAcc, meanWeight, mean, logvarAcc, logvarWeight, logvar;

    /** {@link #load(Checkpoint, VaeConfig, Device, DType, int, int, int, int, int)} with the default tiling. */
    public static TiledVae load(Checkpoint checkpoint, VaeConfig config, Device device, DType dtype, int batch, int height, int width) {
        return load(checkpoint, config, device, dtype, batch, height, width, DEFAULT_TILE, DEFAULT_OVERLAP);
    }

    /**
     * Loads the checkpoint's VAE for tiles of {@code tile} x {@code tile} latents (fewer along an axis of the
     * image shorter than that) and allocates everything for B images of {@code height} x {@code width} px.
     */
    public static TiledVae load(Checkpoint checkpoint, VaeConfig config, Device device, DType dtype, int batch, int height, int width,
                                int tile, int overlap) {
        int f = config.downscale();
        if (height < f || width < f || height % f != 0 || width % f != 0 || tile < 1) {
            throw new IllegalArgumentException("tiled vae: " + height + " x " + width + " px, tile " + tile
                    + " (sizes must be positive multiples of " + f + ", the tile positive)");
        }
        Vae vae = Vae.load(checkpoint, config, device, dtype, batch, Math.min(tile, height / f) * f, Math.min(tile, width / f) * f);
        try {
            return new TiledVae(vae, height, width, overlap);
        } catch (RuntimeException e) {
            vae.close();
            throw e;
        }
    }

    /**
     * Tiles of {@code tileVae}'s size (which must fit in the image), overlapping by at least {@code overlap}
     * latents (0 <= overlap < tile side wherever an axis needs more than one tile). Takes ownership of the VAE.
     */
    public TiledVae(Vae tileVae, int height, int width, int overlap) {
        this.vae = tileVae;
        VaeConfig config = tileVae.config();
        this.f = config.downscale();
        this.z = config.zChannels();
        this.batch = tileVae.batch();
        this.height = height;
        this.width = width;
        this.overlap = overlap;
        if (height % f != 0 || width % f != 0 || height < tileVae.height() || width < tileVae.width() || overlap < 0) {
            throw new IllegalArgumentException("tiled vae: " + height + " x " + width + " px with " + tileVae.height() + " x "
                    + tileVae.width() + " px tiles and overlap " + overlap + " (sizes multiples of " + f + ", tiles no larger than the image)");
        }
        this.h = height / f;
        this.w = width / f;
        int th = tileVae.latentHeight(), tw = tileVae.latentWidth();
        this.ys = positions(h, th, overlap);
        this.xs = positions(w, tw, overlap);
        Device device = tileVae.device();
        DType dtype = tileVae.dtype();
        int c = config.inChannels();
        try {
            latentTile = alloc(device, dtype, batch, z, th, tw);
            imageTile = alloc(device, dtype, batch, c, th * f, tw * f);
            imageAcc = alloc(device, DType.F32, batch, c, height, width);
            imageWeight = alloc(device, DType.F32, height, width);
            image = alloc(device, dtype, batch, c, height, width);
            meanAcc = alloc(device, DType.F32, batch, z, h, w);
            meanWeight = alloc(device, DType.F32, h, w);
            mean = alloc(device, dtype, batch, z, h, w);
            logvarAcc = alloc(device, DType.F32, batch, z, h, w);
            logvarWeight = alloc(device, DType.F32, h, w);
            logvar = alloc(device, dtype, batch, z, h, w);
        } catch (RuntimeException e) {
            for (Tensor t : owned) t.close();
            throw e;
        }
    }

    /**
     * Tile origins along an axis of {@code size}: n = ceil((size - overlap) / (tile - overlap)) positions
     * rounded from k (size - tile) / (n - 1), first 0, last size - tile; just {0} when the tile covers the axis.
     */
    public static int[] positions(int size, int tile, int overlap) {
        if (tile < 1 || tile > size) throw new IllegalArgumentException("tiled vae: tile " + tile + " for an axis of " + size);
        if (tile == size) return new int[] {0};
        if (overlap < 0 || overlap >= tile) throw new IllegalArgumentException("tiled vae: overlap " + overlap + " for tiles of " + tile);
        int step = tile - overlap;
        int n = Math.max(2, (size - overlap + step - 1) / step);
        int[] p = new int[n];
        long span = size - tile;
        for (int k = 0; k < n; k++) p[k] = (int) ((k * span + (n - 1) / 2) / (n - 1));
        return p;
    }

    private Tensor alloc(Device device, DType type, long... dims) {
        Tensor t = Tensor.allocate(device, type, dims);
        owned.add(t);
        return t;
    }

    public int batch() {
        return batch;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    /** Tiles per call: rows x columns. */
    public int tiles() {
        return ys.length * xs.length;
    }

    /** Tile origins along y and x, in latents (copies). */
    public int[] tileRows() {
        return ys.clone();
    }

    public int[] tileColumns() {
        return xs.clone();
    }

    /** The VAE that runs each tile (its buffers are a tile's). */
    public Vae tileVae() {
        return vae;
    }

    /** Lengths of the ramps before and after tile k along an axis (0 on the border), in latents. */
    private static int lead(int[] p, int k, int tile) {
        return k == 0 ? 0 : p[k - 1] + tile - p[k];
    }

    private static int trail(int[] p, int k, int tile) {
        return k == p.length - 1 ? 0 : p[k] + tile - p[k + 1];
    }

    /**
     * The image (B, 3, H, W) of {@code latents} (B, z, H/f, W/f), unscaled, as {@link Vae#decode} but tile by
     * tile. Returns this object's own tensor, overwritten by the next decode.
     */
    public Tensor decode(Tensor latents) {
        check("latents", latents, batch, z, h, w);
        int th = vae.latentHeight(), tw = vae.latentWidth();
        BasicOps.fill(imageAcc, 0f);
        BasicOps.fill(imageWeight, 0f);
        for (int i = 0; i < ys.length; i++) {
            for (int j = 0; j < xs.length; j++) {
                TileOps.crop(latentTile, latents, ys[i], xs[j]);
                Tensor out = vae.decode(latentTile);
                TileOps.blendAccumulate(imageAcc, imageWeight, out, ys[i] * f, xs[j] * f,
                        lead(ys, i, th) * f, trail(ys, i, th) * f, lead(xs, j, tw) * f, trail(xs, j, tw) * f);
            }
        }
        TileOps.blendNormalize(image, imageAcc, imageWeight);
        return image;
    }

    /**
     * The posterior {mean, logvar}, each (B, z, H/f, W/f), of {@code img} (B, 3, H, W), as {@link Vae#encode}
     * but tile by tile, blended in latent space. Returns this object's own tensors, overwritten by the next encode.
     */
    public Tensor[] encode(Tensor img) {
        check("image", img, batch, vae.config().inChannels(), height, width);
        int th = vae.latentHeight(), tw = vae.latentWidth();
        BasicOps.fill(meanAcc, 0f);
        BasicOps.fill(meanWeight, 0f);
        BasicOps.fill(logvarAcc, 0f);
        BasicOps.fill(logvarWeight, 0f);
        for (int i = 0; i < ys.length; i++) {
            for (int j = 0; j < xs.length; j++) {
                TileOps.crop(imageTile, img, ys[i] * f, xs[j] * f);
                Tensor[] post = vae.encode(imageTile);
                int top = lead(ys, i, th), bottom = trail(ys, i, th), left = lead(xs, j, tw), right = trail(xs, j, tw);
                TileOps.blendAccumulate(meanAcc, meanWeight, post[0], ys[i], xs[j], top, bottom, left, right);
                TileOps.blendAccumulate(logvarAcc, logvarWeight, post[1], ys[i], xs[j], top, bottom, left, right);
            }
        }
        TileOps.blendNormalize(mean, meanAcc, meanWeight);
        TileOps.blendNormalize(logvar, logvarAcc, logvarWeight);
        return new Tensor[] {mean, logvar};
    }

    private void check(String what, Tensor t, long... dims) {
        if (t.dtype() != vae.dtype() || !java.util.Arrays.equals(t.shape().dims(), dims)) {
            throw new IllegalArgumentException("tiled vae: " + what + " must be " + vae.dtype() + " " + java.util.Arrays.toString(dims) + ", not " + t);
        }
    }

    @Override
    public void close() {
        for (Tensor t : owned) t.close();
        owned.clear();
        vae.close();
    }
}
