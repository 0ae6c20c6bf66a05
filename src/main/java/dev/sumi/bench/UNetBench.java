package dev.sumi.bench;

import dev.sumi.device.Device;
import dev.sumi.device.HostDevice;
import dev.sumi.device.LaunchProfile;
import dev.sumi.lora.Adapters;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.ModelFormatException;
import dev.sumi.model.unet.UNet;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNetOptions;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

/**
 * One UNet step of a checkpoint on a device: load, then forward (and backward) at a resolution and
 * batch, timing each and checking the outputs are finite. On a full-size SD 1.5 this is the
 * "forward + backward completes" check of the networks issue, and the per-step time. With several
 * reps the first is a warm-up and the median of the others is reported; on the host device a profile
 * of the timed reps can be kept (time per kernel and GEMM).
 */
public final class UNetBench {
    private UNetBench() {}

    /**
     * @param frozen       no parameter gradients ({@link Adapters#FROZEN}, what sampling and a LoRA's base UNet use);
     *                     else every Linear's ({@link Adapters#LINEAR_GRADIENTS})
     * @param checkpointed {@link UNetOptions#CHECKPOINTED}
     * @param reps         forward (and backward) passes; above 1 the first is a warm-up left out of the times
     * @param profile      time every host kernel and GEMM of the timed reps (host device only)
     */
    public record Options(DType dtype, int batch, int resolution, boolean backward, boolean frozen, boolean checkpointed,
                          int reps, boolean profile) {
        public Options {
            if (batch < 1 || resolution < 8 || reps < 1) throw new IllegalArgumentException("unet bench: batch, resolution and reps must be positive");
        }
    }

    /** Times of the median rep; {@code profile} is null unless asked for on a host device. */
    public record Result(String family, double loadMs, double forwardMs, double backwardMs, boolean finite, long deviceBytesUsed,
                         LaunchProfile profile, int timedReps) {}

    public static Result run(Path model, Device device, Options o) throws Exception {
        try (Checkpoint ck = Checkpoint.open(model, null)) {
            UNetConfig cfg = ck.architecture().unet();
            if (cfg == null) throw new ModelFormatException(model + ": no UNet");
            int f = ck.architecture().vae() != null ? ck.architecture().vae().downscale() : 8;
            int h = o.resolution() / f, w = o.resolution() / f, batch = o.batch();
            DType dtype = o.dtype();
            long free0 = device.memoryInfo().free();
            long t0 = System.nanoTime();
            try (UNet unet = UNet.load(ck, cfg, device, dtype, batch, h, w, 77, o.frozen() ? Adapters.FROZEN : Adapters.LINEAR_GRADIENTS,
                    o.checkpointed() ? UNetOptions.CHECKPOINTED : UNetOptions.DEFAULT)) {
                double loadMs = (System.nanoTime() - t0) / 1e6;
                Random r = new Random(0);
                float[] lat = new float[batch * cfg.inChannels() * h * w], ctx = new float[batch * 77 * cfg.contextDim()], ts = new float[batch];
                float[] grad = new float[batch * cfg.outChannels() * h * w];
                for (int i = 0; i < lat.length; i++) lat[i] = (float) r.nextGaussian();
                for (int i = 0; i < grad.length; i++) grad[i] = (float) r.nextGaussian();
                for (int i = 0; i < ctx.length; i++) ctx[i] = (float) r.nextGaussian();
                for (int i = 0; i < batch; i++) ts[i] = 1 + r.nextInt(999);
                try (Tensor latents = Tensor.fromFloats(device, dtype, lat, batch, cfg.inChannels(), h, w);
                     Tensor context = Tensor.fromFloats(device, dtype, ctx, batch, 77, cfg.contextDim());
                     Tensor timesteps = Tensor.fromFloats(device, DType.F32, ts, batch);
                     Tensor dOut = Tensor.fromFloats(device, dtype, grad, batch, cfg.outChannels(), h, w)) {
                    int timed = o.reps() > 1 ? o.reps() - 1 : 1;
                    double[] fwd = new double[timed], bwd = new double[timed];
                    boolean finite = true;
                    HostDevice host = o.profile() && device instanceof HostDevice hd ? hd : null;
                    for (int rep = 0; rep < o.reps(); rep++) {
                        int slot = o.reps() > 1 ? rep - 1 : 0;
                        if (host != null && rep == o.reps() - timed) host.startProfile();
                        long t1 = System.nanoTime();
                        Tensor out = unet.forward(latents, timesteps, context);
                        device.synchronize();
                        if (slot >= 0) fwd[slot] = (System.nanoTime() - t1) / 1e6;
                        finite &= allFinite(out.toFloats());
                        if (o.backward()) {
                            long t2 = System.nanoTime();
                            Tensor dLatents = unet.backward(dOut);
                            device.synchronize();
                            if (slot >= 0) bwd[slot] = (System.nanoTime() - t2) / 1e6;
                            finite &= allFinite(dLatents.toFloats());
                        }
                    }
                    LaunchProfile profile = host != null ? host.stopProfile() : null;
                    return new Result(ck.architecture().family(), loadMs, median(fwd), median(bwd), finite,
                            free0 - device.memoryInfo().free(), profile, timed);
                }
            }
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    private static boolean allFinite(float[] v) {
        for (float x : v) if (!Float.isFinite(x)) return false;
        return true;
    }
}
