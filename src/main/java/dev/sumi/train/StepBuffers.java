package dev.sumi.train;

import dev.sumi.device.Device;
import dev.sumi.lora.Adapters;
import dev.sumi.model.SharedWeights;
import dev.sumi.model.unet.UNet;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNetOptions;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

/**
 * The device side of training steps of one shape (B, h, w): a UNet built for it (its weights lent by the
 * trainer's {@link SharedWeights}) and the step's inputs and outputs. Batches of one bucket share it; a batch
 * of another shape (another bucket, or a bucket's smaller last batch) closes it and builds the next, so only one
 * shape's activations are ever allocated.
 */
final class StepBuffers implements AutoCloseable {
    final int batch, height, width;
    final UNet unet;
    final Tensor latents;    // (B, z, h, w) noisy latents, training dtype
    final Tensor target;     // (B, z, h, w) noise (epsilon) or velocity (v-prediction)
    final Tensor dPred;      // (B, z, h, w) d loss / d prediction
    final Tensor timesteps;  // (B) F32
    final Tensor weights;    // (B) F32 per-sample loss weights (min-SNR-gamma, else 1)
    final Tensor loss;       // (1) F32
    final Tensor dContext;   // (B, K, C) d loss / d context when the text encoder trains, else null

    StepBuffers(UNetConfig config, SharedWeights unetWeights, Adapters adapters, Device device, DType dtype,
                int batch, int height, int width, int contextTokens, boolean contextGradient, UNetOptions options) {
        this.batch = batch;
        this.height = height;
        this.width = width;
        UNet u = null;
        Tensor[] t = new Tensor[7];
        try {
            u = new UNet(config, unetWeights.lend(), device, dtype, batch, height, width, contextTokens, adapters, options);
            int z = config.inChannels();
            t[0] = Tensor.allocate(device, dtype, batch, z, height, width);
            t[1] = Tensor.allocate(device, dtype, batch, z, height, width);
            t[2] = Tensor.allocate(device, dtype, batch, z, height, width);
            t[3] = Tensor.allocate(device, DType.F32, batch);
            t[4] = Tensor.allocate(device, DType.F32, batch);
            t[5] = Tensor.allocate(device, DType.F32, 1);
            t[6] = contextGradient ? Tensor.allocate(device, dtype, batch, contextTokens, config.contextDim()) : null;
        } catch (RuntimeException e) {
            if (u != null) u.close();
            for (Tensor x : t) if (x != null) x.close();
            throw e;
        }
        this.unet = u;
        this.latents = t[0];
        this.target = t[1];
        this.dPred = t[2];
        this.timesteps = t[3];
        this.weights = t[4];
        this.loss = t[5];
        this.dContext = t[6];
    }

    boolean fits(int b, int h, int w) {
        return batch == b && height == h && width == w;
    }

    @Override
    public void close() {
        unet.close();
        for (Tensor x : new Tensor[] {latents, target, dPred, timesteps, weights, loss, dContext}) if (x != null) x.close();
    }
}
