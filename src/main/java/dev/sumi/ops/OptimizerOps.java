package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.device.DeviceBuffer;
import dev.sumi.device.Dim3;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;

/**
 * Optimizer steps over many F32 tensors in one launch (cuda-kernels/optimizer.cu): AdamW and Lion with
 * decoupled weight decay, a global gradient norm, clipping and loss-scale unscaling.
 *
 * <p>Per step: {@link #gradNorm} (one launch: the sum of squares of every unscaled gradient, and a
 * "non-finite gradient" flag), then {@link #adamw} or {@link #lion} (one launch), which read both on
 * the device: a set flag skips the update, otherwise each gradient is multiplied by
 * {@code invLossScale * min(1, maxNorm / (norm + 1e-6))}. Nothing goes back to the host unless the
 * caller asks ({@link ParamSet#readNorm}, {@link ParamSet#readNonFinite}, e.g. to log or to adjust
 * the loss scale; a skipped step should not advance the step count t).
 */
public final class OptimizerOps {
    private OptimizerOps() {}

    /** Elements per block (optimizer.cu CHUNK). */
    public static final int CHUNK = 4096;

    /** Bytes of one optimizer.cu MultiTensorEntry: 4 pointers, n, first_block, lr_scale, weight_decay. */
    static final int ENTRY_BYTES = 56;

    /**
     * One trainable tensor: param, grad, m (first moment / momentum) and v (second moment, AdamW only;
     * null for Lion), all F32 of one size; lrScale multiplies the learning rate, weightDecay is decoupled.
     */
    public record Slot(Tensor param, Tensor grad, Tensor m, Tensor v, float lrScale, float weightDecay) {}

    /**
     * Hyperparameters in double, as PyTorch takes them: the kernels get 1 - beta computed in double
     * (1.0f - 0.999f would be 1.3e-5 off 0.001, a different beta2 than asked for).
     */
    public record AdamW(double lr, double beta1, double beta2, double eps) {}

    public record Lion(double lr, double beta1, double beta2) {}

    /**
     * The device-side table of a fixed set of trainable tensors, built once (the tensors must outlive
     * it), and its status words (sum of squares, non-finite flag). Owns two small allocations.
     */
    public static final class ParamSet implements AutoCloseable {
        private final Device device;
        private final DeviceBuffer table;    // (tensors) MultiTensorEntry
        private final DeviceBuffer status;   // float sumsq, int nonfinite
        private final int tensors;
        private final long blocks;
        private final boolean hasV;

        private ParamSet(Device device, DeviceBuffer table, DeviceBuffer status, int tensors, long blocks, boolean hasV) {
            this.device = device;
            this.table = table;
            this.status = status;
            this.tensors = tensors;
            this.blocks = blocks;
            this.hasV = hasV;
        }

        public static ParamSet create(List<Slot> slots) {
            if (slots.isEmpty()) throw new IllegalArgumentException("optimizer: no trainable tensors");
            Device device = slots.get(0).param().device();
            boolean hasV = true;
            long blocks = 0;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment host = arena.allocate((long) ENTRY_BYTES * slots.size(), 8);
                ValueLayout.OfLong i64 = ValueLayout.JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN);
                ValueLayout.OfFloat f32 = ValueLayout.JAVA_FLOAT.withOrder(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < slots.size(); i++) {
                    Slot s = slots.get(i);
                    String what = "optimizer: tensor " + i;
                    long n = s.param().numel();
                    for (Tensor t : new Tensor[] {s.param(), s.grad(), s.m(), s.v()}) {
                        if (t == null) continue;
                        Checks.dtype(what, "tensor", t, DType.F32);
                        if (t.numel() != n) throw new IllegalArgumentException(what + ": " + t.shape() + " and " + s.param().shape() + " differ in size");
                        if (t.device() != device) throw new IllegalArgumentException(what + ": on " + t.device().name() + ", not " + device.name());
                    }
                    if (s.grad() == null || s.m() == null) throw new IllegalArgumentException(what + ": needs a grad and m");
                    if (n == 0) throw new IllegalArgumentException(what + ": is empty");
                    hasV &= s.v() != null;
                    long base = (long) i * ENTRY_BYTES;
                    host.set(i64, base, s.param().buffer().address());
                    host.set(i64, base + 8, s.grad().buffer().address());
                    host.set(i64, base + 16, s.m().buffer().address());
                    host.set(i64, base + 24, (s.v() != null ? s.v() : s.m()).buffer().address());
                    host.set(i64, base + 32, n);
                    host.set(i64, base + 40, blocks);
                    host.set(f32, base + 48, s.lrScale());
                    host.set(f32, base + 52, s.weightDecay());
                    blocks += (n + CHUNK - 1) / CHUNK;
                }
                if (blocks > Integer.MAX_VALUE) throw new IllegalArgumentException("optimizer: " + blocks + " chunks exceed one launch");
                DeviceBuffer table = device.allocate(host.byteSize());
                DeviceBuffer status = null;
                try {
                    device.copyToDevice(host, table);
                    status = device.allocate(8);
                    device.memset(status, (byte) 0);
                } catch (RuntimeException e) {
                    table.close();
                    if (status != null) status.close();
                    throw e;
                }
                return new ParamSet(device, table, status, slots.size(), blocks, hasV);
            }
        }

        DeviceBuffer sumsq() {
            return status.slice(0, 4);
        }

        DeviceBuffer nonfinite() {
            return status.slice(4, 4);
        }

        /** The global norm of the unscaled gradients from the last {@link #gradNorm} (waits for the device). */
        public float readNorm() {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment host = arena.allocate(8, 8);
                device.copyToHost(status, host);
                return (float) Math.sqrt(host.get(ValueLayout.JAVA_FLOAT, 0));
            }
        }

        /** Whether the last {@link #gradNorm} met an infinite or NaN gradient (waits for the device). */
        public boolean readNonFinite() {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment host = arena.allocate(8, 8);
                device.copyToHost(status, host);
                return host.get(ValueLayout.JAVA_INT, 4) != 0;
            }
        }

        public int tensors() {
            return tensors;
        }

        @Override
        public void close() {
            table.close();
            status.close();
        }
    }

    /**
     * status = (sum over every gradient of (g * invLossScale)^2, any g non-finite), in one launch;
     * the steps read it on the device. Call once per step, after the backward, before the step.
     */
    public static void gradNorm(ParamSet set, float invLossScale) {
        set.device.memset(set.status, (byte) 0);
        set.device.launch("multi_grad_norm_squared", Dim3.of((int) set.blocks), Launch.chunkBlock(set.device), 0,
                set.sumsq(), set.nonfinite(), set.table, set.tensors, invLossScale);
    }

    /**
     * One AdamW step t (1, 2, ...) over every tensor of the set, torch.optim.AdamW's update:
     * p *= 1 - lr lrScale wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
     * p -= lr lrScale (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps), g the unscaled, clipped gradient.
     * maxNorm <= 0: no clipping.
     */
    public static void adamw(ParamSet set, AdamW h, int t, float invLossScale, float maxNorm) {
        if (!set.hasV) throw new IllegalArgumentException("optimizer: AdamW needs v for every tensor");
        if (t < 1) throw new IllegalArgumentException("optimizer: step " + t + " (steps count from 1)");
        float bc1 = (float) (1 - Math.pow(h.beta1(), t)), bc2 = (float) (1 - Math.pow(h.beta2(), t));
        set.device.launch("multi_adamw_step", Dim3.of((int) set.blocks), Dim3.of(Launch.BLOCK), 0,
                set.table, set.sumsq(), set.nonfinite(), set.tensors, (float) h.lr(), (float) h.beta1(), (float) h.beta2(),
                (float) (1 - h.beta1()), (float) (1 - h.beta2()), (float) h.eps(), bc1, bc2, invLossScale, maxNorm);
    }

    /**
     * One Lion step (Chen et al. 2023): p *= 1 - lr lrScale wd; p -= lr lrScale sign(b1 m + (1 - b1) g);
     * m = b2 m + (1 - b2) g. maxNorm <= 0: no clipping.
     */
    public static void lion(ParamSet set, Lion h, float invLossScale, float maxNorm) {
        set.device.launch("multi_lion_step", Dim3.of((int) set.blocks), Dim3.of(Launch.BLOCK), 0,
                set.table, set.sumsq(), set.nonfinite(), set.tensors, (float) h.lr(), (float) h.beta1(), (float) h.beta2(),
                (float) (1 - h.beta1()), (float) (1 - h.beta2()), invLossScale, maxNorm);
    }
}
