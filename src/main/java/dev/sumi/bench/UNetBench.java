package dev.sumi.bench;

import dev.sumi.device.Device;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.ModelFormatException;
import dev.sumi.model.unet.UNet;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.nio.file.Path;
import java.util.Random;

/**
 * One UNet step of a checkpoint on a device: load, then forward (and backward) at a resolution and
 * batch, timing each and checking the outputs are finite. On a full-size SD 1.5 this is the
 * "forward + backward completes" check of the networks issue, and the per-step time.
 */
public final class UNetBench {
    private UNetBench() {}

    public record Result(String family, double loadMs, double forwardMs, double backwardMs, boolean finite, long deviceBytesUsed) {}

    public static Result run(Path model, Device device, DType dtype, int batch, int resolution, boolean backward) throws Exception {
        try (Checkpoint ck = Checkpoint.open(model, null)) {
            UNetConfig cfg = ck.architecture().unet();
            if (cfg == null) throw new ModelFormatException(model + ": no UNet");
            int f = ck.architecture().vae() != null ? ck.architecture().vae().downscale() : 8;
            int h = resolution / f, w = resolution / f;
            long free0 = device.memoryInfo().free();
            long t0 = System.nanoTime();
            try (UNet unet = UNet.load(ck, cfg, device, dtype, batch, h, w, 77)) {
                double loadMs = (System.nanoTime() - t0) / 1e6;
                Random r = new Random(0);
                float[] lat = new float[batch * cfg.inChannels() * h * w], ctx = new float[batch * 77 * cfg.contextDim()], ts = new float[batch];
                for (int i = 0; i < lat.length; i++) lat[i] = (float) r.nextGaussian();
                for (int i = 0; i < ctx.length; i++) ctx[i] = (float) r.nextGaussian();
                for (int i = 0; i < batch; i++) ts[i] = 1 + r.nextInt(999);
                try (Tensor latents = Tensor.fromFloats(device, dtype, lat, batch, cfg.inChannels(), h, w);
                     Tensor context = Tensor.fromFloats(device, dtype, ctx, batch, 77, cfg.contextDim());
                     Tensor timesteps = Tensor.fromFloats(device, DType.F32, ts, batch)) {
                    long t1 = System.nanoTime();
                    Tensor out = unet.forward(latents, timesteps, context);
                    device.synchronize();
                    double fwd = (System.nanoTime() - t1) / 1e6;
                    boolean finite = allFinite(out.toFloats());
                    double bwd = 0;
                    if (backward) {
                        try (Tensor dOut = Tensor.fromFloats(device, dtype, lat, out.shape().dims())) {
                            long t2 = System.nanoTime();
                            Tensor dLatents = unet.backward(dOut);
                            device.synchronize();
                            bwd = (System.nanoTime() - t2) / 1e6;
                            finite &= allFinite(dLatents.toFloats());
                        }
                    }
                    return new Result(ck.architecture().family(), loadMs, fwd, bwd, finite, free0 - device.memoryInfo().free());
                }
            }
        }
    }

    private static boolean allFinite(float[] v) {
        for (float x : v) if (!Float.isFinite(x)) return false;
        return true;
    }
}
