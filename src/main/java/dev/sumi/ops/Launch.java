package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.device.Dim3;

/** Launch shapes shared by the op families. */
public final class Launch {
    private Launch() {}

    /** Threads per block of the flat (grid-stride) kernels. */
    public static final int BLOCK = 256;

    /** Grid-stride kernels cover any n with this many blocks at most. */
    public static final int MAX_FLAT_BLOCKS = 1 << 16;

    /**
     * Reductions fold one value per block into the result with an atomic; a few hundred blocks keep a
     * GPU busy and keep the host target's per-block fiber cost small.
     */
    public static final int MAX_REDUCE_BLOCKS = 256;

    public static Dim3 flatGrid(long n) {
        return Dim3.of((int) Math.max(1, Math.min(MAX_FLAT_BLOCKS, (n + BLOCK - 1) / BLOCK)));
    }

    public static Dim3 reduceGrid(long n) {
        return Dim3.of((int) Math.max(1, Math.min(MAX_REDUCE_BLOCKS, (n + BLOCK - 1) / BLOCK)));
    }

    /**
     * Threads per block of the row kernels (one block per row, strided loops and block reductions: norms,
     * softmax, bias gradients). On a GPU a multiple of 32 threads, at most 256, not much more than
     * {@code width} work items. On the host one thread: the host target runs a block of a kernel with
     * barriers as one fiber per thread, and every barrier round switches through all of them (a block
     * reduction is ~12 rounds), which made these kernels 100x slower than memcpy; with one thread the block
     * is a plain loop (common.cuh's block_reduce returns the thread's own sum) and the rows still spread
     * over the worker threads. The host's sums then run in element order, not the GPU's tree order.
     */
    public static Dim3 rowBlock(Device device, long width) {
        if (device.kind() == Device.Kind.HOST) return Dim3.of(1);
        long warps = Math.min(BLOCK / 32, Math.max(1, (width + 31) / 32));
        return Dim3.of((int) (warps * 32));
    }

    /**
     * Threads per block of kernels whose block strides over one contiguous chunk and then reduces it (the
     * optimizer's grad norm): {@link #BLOCK} on a GPU, one on the host, for the reason given at {@link #rowBlock}.
     */
    public static Dim3 chunkBlock(Device device) {
        return Dim3.of(device.kind() == Device.Kind.HOST ? 1 : BLOCK);
    }
}
