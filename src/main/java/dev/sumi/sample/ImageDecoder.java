package dev.sumi.sample;

import dev.sumi.data.RgbImage;
import dev.sumi.device.Device;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.LdmComponent;
import dev.sumi.model.SharedWeights;
import dev.sumi.model.vae.TiledVae;
import dev.sumi.model.vae.Vae;
import dev.sumi.model.vae.VaeConfig;
import dev.sumi.model.vae.VaeLayout;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The UNet's latents to 8-bit RGB images through the checkpoint's VAE decoder, one image at a time. Large images
 * (above {@link #TILE_ABOVE_PIXELS}, or always with {@link #setTiling}) decode in overlapping 512 px tiles
 * ({@link TiledVae}) so the decoder's memory stays that of a 512 px image.
 *
 * <p>The decoder runs in the generator's precision. F16 overflows in the decoder's last, widest layers on some
 * models and latents (the "black image" users meet): when an image comes out with a NaN or an infinity, it is
 * decoded again in F32 and the decoder stays in F32 from then on, with a notice (AUTOMATIC1111's automatic
 * "--no-half-vae" fallback).
 */
public final class ImageDecoder implements AutoCloseable {

    /** Images with more pixels than this decode in tiles by default (about 1 MP: 1024 x 1024). */
    public static final long TILE_ABOVE_PIXELS = 1024L * 1024;

    private final Checkpoint checkpoint;
    private final VaeConfig config;
    private final Device device;
    private final Consumer<String> log;
    private final Map<DType, SharedWeights> weights = new EnumMap<>(DType.class);
    private DType dtype;
    private Boolean tiling;            // null: by size
    private Vae whole;                 // the last shape and dtype, untiled, or
    private TiledVae tiled;            // tiled (one of the two is set once prepared)
    private int preparedHeight, preparedWidth;
    private DType preparedType;
    private Tensor latentInput;        // (1, z, h, w) in the VAE's dtype

    ImageDecoder(Checkpoint checkpoint, VaeConfig config, Device device, DType dtype, Consumer<String> log) {
        this.checkpoint = checkpoint;
        this.config = config;
        this.device = device;
        this.dtype = dtype;
        this.log = log;
    }

    /** Forces tiled (true) or whole-image (false) decoding; null decides by size. */
    public void setTiling(Boolean tiling) {
        if (tiling != this.tiling) closeVae();
        this.tiling = tiling;
    }

    /** The precision the decoder runs in now (F32 after a fallback). */
    public DType dtype() {
        return dtype;
    }

    /** Images of {@code latents} (B, z, height / f, width / f), the UNet's latents (scaled by the VAE's factor). */
    public List<RgbImage> decode(float[] latents, int batch, int height, int width) {
        int f = config.downscale(), per = config.zChannels() * (height / f) * (width / f);
        if (latents.length != (long) batch * per) throw new IllegalArgumentException("decode: " + latents.length + " latents for " + batch + " images of " + width + "x" + height);
        List<RgbImage> out = new ArrayList<>();
        float[] one = new float[per];
        for (int i = 0; i < batch; i++) {
            System.arraycopy(latents, i * per, one, 0, per);
            out.add(toImage(decodePixels(one, height, width), width, height));
        }
        return out;
    }

    /** The decoder's output (3, height, width), about -1..1, for one image's UNet latents, with the F32 fallback. */
    public float[] decodePixels(float[] latents, int height, int width) {
        float[] pixels = decodeIn(dtype, latents, height, width);
        if (dtype != DType.F32 && !allFinite(pixels)) {
            log.accept("VAE: the " + dtype + " decoder overflowed (NaN/Inf in the image); decoding in F32 from now on");
            closeVae();
            SharedWeights w = weights.remove(dtype);
            if (w != null) w.close();
            dtype = DType.F32;
            pixels = decodeIn(dtype, latents, height, width);
        }
        return pixels;
    }

    /** One decode in {@code type}, no fallback (tests compare precisions with it). */
    float[] decodeIn(DType type, float[] latents, int height, int width) {
        prepare(type, height, width);
        float[] scaled = new float[latents.length];
        float inv = (float) (1 / config.scalingFactor());
        for (int i = 0; i < scaled.length; i++) scaled[i] = latents[i] * inv;
        latentInput.copyFrom(scaled);
        return (tiled != null ? tiled.decode(latentInput) : whole.decode(latentInput)).toFloats();
    }

    private void prepare(DType type, int height, int width) {
        if ((whole != null || tiled != null) && preparedHeight == height && preparedWidth == width && preparedType == type) return;
        closeVae();
        SharedWeights w = weights.computeIfAbsent(type, t -> SharedWeights.load(checkpoint, LdmComponent.VAE.prefix, VaeLayout.parameters(config), device, t));
        int f = config.downscale(), tile = TiledVae.DEFAULT_TILE;
        boolean inTiles = (tiling != null ? tiling : (long) height * width > TILE_ABOVE_PIXELS) && (height / f > tile || width / f > tile);
        try {
            latentInput = Tensor.allocate(device, type, 1, config.zChannels(), height / f, width / f);
            if (inTiles) {
                Vae tileVae = new Vae(config, w.lend(), device, type, 1, Math.min(tile, height / f) * f, Math.min(tile, width / f) * f);
                try {
                    tiled = new TiledVae(tileVae, height, width, TiledVae.DEFAULT_OVERLAP);
                } catch (RuntimeException e) {
                    tileVae.close();
                    throw e;
                }
            } else {
                whole = new Vae(config, w.lend(), device, type, 1, height, width);
            }
        } catch (RuntimeException e) {
            closeVae();
            throw e;
        }
        preparedHeight = height;
        preparedWidth = width;
        preparedType = type;
    }

    /** Whether the last decode ran in tiles. */
    public boolean tiled() {
        return tiled != null;
    }

    static boolean allFinite(float[] v) {
        for (float x : v) if (!Float.isFinite(x)) return false;
        return true;
    }

    /** diffusers' postprocess: (x / 2 + 0.5) clamped to 0..1, times 255, rounded; (3, H, W) planes to RGB bytes. */
    public static RgbImage toImage(float[] chw, int width, int height) {
        int plane = width * height;
        byte[] rgb = new byte[plane * 3];
        for (int c = 0; c < 3; c++) {
            for (int p = 0; p < plane; p++) {
                double v = Math.clamp(chw[c * plane + p] / 2.0 + 0.5, 0.0, 1.0);
                rgb[p * 3 + c] = (byte) Math.round(v * 255);
            }
        }
        return new RgbImage(width, height, rgb);
    }

    private void closeVae() {
        if (whole != null) whole.close();
        if (tiled != null) tiled.close();
        if (latentInput != null) latentInput.close();
        whole = null;
        tiled = null;
        latentInput = null;
    }

    @Override
    public void close() {
        closeVae();
        weights.values().forEach(SharedWeights::close);
        weights.clear();
    }
}
