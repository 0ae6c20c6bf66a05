package dev.sumi.device;

import java.lang.foreign.MemorySegment;

/**
 * Where tensors live and kernels run: a CUDA GPU ({@link CudaDevice}) or the host CPU running the
 * same kernel source ({@link HostDevice}). Work is issued in order on one stream; calls that hand data
 * back to Java ({@link #copyToHost}) wait for it. Every failure is a {@link DeviceException} naming
 * the call, the kernel or the size.
 */
public interface Device extends AutoCloseable {

    enum Kind { HOST, CUDA }

    /** Human-readable: "host (2 threads)", "cuda:0 NVIDIA H100 80GB HBM3". */
    String name();

    Kind kind();

    /** {@code bytes} of device memory, aligned to 256 bytes; throws {@link OutOfDeviceMemoryException}. */
    DeviceBuffer allocate(long bytes);

    /** Frees an owning buffer; freeing twice is a no-op. */
    void free(DeviceBuffer buffer);

    /** Copies all of {@code src} (host memory, {@code dst.bytes()} long) into {@code dst}. */
    void copyToDevice(MemorySegment src, DeviceBuffer dst);

    /** Copies all of {@code src} into host memory {@code dst} ({@code src.bytes()} long); waits for pending work. */
    void copyToHost(DeviceBuffer src, MemorySegment dst);

    /** Copies {@code src} into {@code dst}, which must have the same length. */
    void copy(DeviceBuffer src, DeviceBuffer dst);

    /** Sets every byte of {@code dst} to {@code value}. */
    void memset(DeviceBuffer dst, byte value);

    /** Looks a kernel up by name; throws naming the kernel if it was not built. */
    Kernel kernel(String name);

    /**
     * Launches {@code kernel} over {@code grid} blocks of {@code block} threads with {@code sharedBytes}
     * of dynamic shared memory. Arguments are checked against the kernel's signature: Tensors or
     * DeviceBuffers for pointers, Integer/Long/Float/Double for scalars.
     */
    void launch(Kernel kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args);

    default void launch(String kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        launch(kernel(kernel), grid, block, sharedBytes, args);
    }

    /** cuBLAS {@code cublasGemmStridedBatchedEx} semantics with F32 compute; see {@link GemmParams}. */
    void gemm(GemmParams params);

    /** Waits until all issued work is done. */
    void synchronize();

    MemoryInfo memoryInfo();

    /** Largest block, in threads (1024 on every GPU sumi supports, and on the host to match). */
    default int maxThreadsPerBlock() {
        return 1024;
    }

    /** Dynamic shared memory a launch may ask for without opting in (48 KiB, as on every GPU). */
    default int maxSharedBytesPerBlock() {
        return 48 * 1024;
    }

    @Override
    void close();

    /** Checks a launch's extents against the limits every CUDA GPU has, so that host runs catch what a GPU would reject. */
    static void checkLaunchShape(Device device, Kernel kernel, Dim3 grid, Dim3 block, int sharedBytes) {
        String k = kernel.name();
        if (block.count() > device.maxThreadsPerBlock() || block.x() > 1024 || block.y() > 1024 || block.z() > 64) {
            throw new DeviceException("kernel " + k + ": block " + block + " exceeds the limit of " + device.maxThreadsPerBlock()
                    + " threads (x, y <= 1024, z <= 64)");
        }
        if (grid.y() > 65535 || grid.z() > 65535) {
            throw new DeviceException("kernel " + k + ": grid " + grid + " exceeds 65535 blocks in y or z");
        }
        if (sharedBytes < 0 || sharedBytes > device.maxSharedBytesPerBlock()) {
            throw new DeviceException("kernel " + k + ": asks " + sharedBytes + " bytes of dynamic shared memory, the limit is "
                    + device.maxSharedBytesPerBlock());
        }
    }
}
