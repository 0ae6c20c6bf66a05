package dev.sumi.model.unet;

import dev.sumi.device.DeviceArena;
import dev.sumi.device.DeviceBuffer;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Shape;
import dev.sumi.tensor.Tensor;

/**
 * Under gradient checkpointing, the one device region that every UNet module lays its internal buffers in
 * (saved activations, LoRA intermediates, backward scratch): each module's buffers start again at the region's
 * start, over the previous module's, so the region is as large as the largest module and no more. Only one
 * module's internals are valid at a time: the one whose forward ran last. Buffers are 256-byte aligned, as the
 * devices align their own allocations.
 */
final class ModuleScratch implements AutoCloseable {
    private final DeviceBuffer region;
    private long cursor;   // bytes laid out by the module being built
    private long peak;     // the largest module's bytes so far

    ModuleScratch(DeviceBuffer region) {
        this.region = region;
    }

    /** The next buffers belong to a new module: they overlay the previous module's. */
    void beginModule() {
        cursor = 0;
    }

    /** A (dims) tensor of {@code type} in the region, after the current module's earlier buffers. */
    Tensor carve(DType type, long... dims) {
        long bytes = Math.multiplyExact(Shape.of(dims).numel(), (long) type.byteSize);
        long need = Math.max(DeviceArena.ALIGNMENT, Math.addExact(bytes, DeviceArena.ALIGNMENT - 1) / DeviceArena.ALIGNMENT * DeviceArena.ALIGNMENT);
        if (cursor + need > region.bytes()) {
            throw new IllegalStateException("unet: the module scratch region of " + region.bytes() + " bytes is too small for a module needing "
                    + (cursor + need) + " bytes or more");
        }
        Tensor t = Tensor.wrap(region.slice(cursor, bytes), type, dims);
        cursor += need;
        peak = Math.max(peak, cursor);
        return t;
    }

    /** The bytes the largest module laid out. */
    long peak() {
        return peak;
    }

    @Override
    public void close() {
        region.close();
    }
}
