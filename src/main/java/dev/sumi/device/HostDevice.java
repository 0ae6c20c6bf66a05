package dev.sumi.device;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The CPU as a device: buffers are native memory, kernels are cuda-kernels/ compiled for the host
 * (libsumi_host, bound here through the Foreign Function & Memory API), GEMM is the host library's
 * blocked multithreaded GEMM. Everything is synchronous. Limits (threads per block, grid extents,
 * shared memory) are the GPU's, so a host run rejects what a GPU would.
 */
public final class HostDevice implements Device {

    /** One binding of the host library per process: it holds the worker pool. */
    private static final class Library {
        final Path path;
        final MethodHandle kernelCount, kernelName, kernelArity, kernelArgSize, launch, gemm, gemmIsa, lastError, threads, buildInfo;
        final Map<String, Integer> kernelIndex = new HashMap<>();

        Library(Path path) {
            this.path = path;
            // global arena: the library stays loaded for the life of the process
            SymbolLookup lib = SymbolLookup.libraryLookup(path, Arena.global());
            Linker linker = Linker.nativeLinker();
            kernelCount = bind(linker, lib, "sumi_host_kernel_count", FunctionDescriptor.of(JAVA_INT));
            kernelName = bind(linker, lib, "sumi_host_kernel_name", FunctionDescriptor.of(ADDRESS, JAVA_INT));
            kernelArity = bind(linker, lib, "sumi_host_kernel_arity", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
            kernelArgSize = bind(linker, lib, "sumi_host_kernel_arg_size", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_INT));
            launch = bind(linker, lib, "sumi_host_launch", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS));
            gemm = bind(linker, lib, "sumi_host_gemm", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            gemmIsa = bind(linker, lib, "sumi_host_gemm_isa", FunctionDescriptor.of(ADDRESS));
            lastError = bind(linker, lib, "sumi_host_last_error", FunctionDescriptor.of(ADDRESS));
            threads = bind(linker, lib, "sumi_host_threads", FunctionDescriptor.of(JAVA_INT));
            buildInfo = bind(linker, lib, "sumi_host_build_info", FunctionDescriptor.of(ADDRESS));
            try {
                int n = (int) kernelCount.invokeExact();
                for (int i = 0; i < n; i++) kernelIndex.put(cString((MemorySegment) kernelName.invokeExact(i)), i);
            } catch (Throwable t) {
                throw new DeviceException("host library " + path + ": cannot list kernels: " + t, t);
            }
        }

        private static MethodHandle bind(Linker linker, SymbolLookup lib, String name, FunctionDescriptor fd) {
            return lib.find(name).map(s -> linker.downcallHandle(s, fd)).orElse(null);
        }

        String lastError() {
            try {
                return cString((MemorySegment) lastError.invokeExact());
            } catch (Throwable t) {
                return "(no message: " + t + ")";
            }
        }
    }

    private static volatile Library library;

    static String cString(MemorySegment p) {
        return p.equals(MemorySegment.NULL) ? null : p.reinterpret(Long.MAX_VALUE).getString(0);
    }

    private static Library library() {
        Library lib = library;
        if (lib != null) return lib;
        synchronized (HostDevice.class) {
            if (library == null) library = new Library(locateLibrary());
            return library;
        }
    }

    /** {@code -Dsumi.hostlib=PATH}, else the copy bundled in the jar for this platform. */
    static Path locateLibrary() {
        String override = System.getProperty("sumi.hostlib");
        if (override != null) {
            Path p = Path.of(override);
            if (!Files.isRegularFile(p)) throw new DeviceException("-Dsumi.hostlib=" + override + ": no such file");
            return p;
        }
        String platform = NativeLibraries.platform();
        String file = platform.startsWith("windows") ? "sumi_host.dll" : "libsumi_host.so";
        try {
            Path p = NativeLibraries.extract("/native/" + platform + "/" + file, file);
            if (p == null) {
                throw new DeviceException("the host kernels are not built for " + platform
                        + " (no /native/" + platform + "/" + file + " in the jar; build on this platform with g++)");
            }
            return p;
        } catch (IOException e) {
            throw new DeviceException("cannot extract the host library to " + NativeLibraries.cacheRoot() + ": " + e.getMessage(), e);
        }
    }

    /** The host library's own record of one allocation: the arena that frees it and the memory. */
    private record Allocation(Arena arena, MemorySegment segment) {}

    private static final int ALIGNMENT = 256;

    private final Library lib;
    private final KernelManifest manifest;
    private final long capacity;
    private final AtomicLong used = new AtomicLong();
    private volatile boolean closed;
    private final Object workspaceLock = new Object();
    private DeviceBuffer workspace;   // guarded by workspaceLock; see withWorkspace
    private volatile LaunchProfile profile;   // null unless profiling; see startProfile

    private HostDevice(Library lib, KernelManifest manifest, long capacity) {
        this.lib = lib;
        this.manifest = manifest;
        this.capacity = capacity;
        checkManifestAgainstLibrary();
    }

    /**
     * Opens the host device. Memory capacity: {@code -Dsumi.host.memory=BYTES}, else 80% of physical
     * memory, so that an oversized plan fails with a message instead of the machine swapping.
     */
    public static HostDevice open() {
        long capacity = Long.getLong("sumi.host.memory", defaultCapacity());
        return new HostDevice(library(), KernelManifest.bundled(), capacity);
    }

    private static long defaultCapacity() {
        try {
            var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            return (long) (os.getTotalMemorySize() * 0.8);
        } catch (Throwable t) {
            return 8L << 30;
        }
    }

    private void checkManifestAgainstLibrary() {
        for (KernelSignature s : manifest.all().values()) {
            Integer index = lib.kernelIndex.get(s.name());
            if (index == null) throw new DeviceException("host library " + lib.path + " lacks kernel " + s.name() + " of the manifest (stale build?)");
            try {
                int arity = (int) lib.kernelArity.invokeExact((int) index);
                if (arity != s.params().size()) {
                    throw new DeviceException("kernel " + s.name() + ": the manifest has " + s.params().size() + " parameters, the host library " + arity);
                }
                for (int i = 0; i < arity; i++) {
                    long size = (long) lib.kernelArgSize.invokeExact((int) index, i);
                    if (size != s.params().get(i).byteSize) {
                        throw new DeviceException("kernel " + s.name() + " parameter " + i + ": " + size + " bytes in the host library, "
                                + s.params().get(i) + " in the manifest");
                    }
                }
            } catch (DeviceException e) {
                throw e;
            } catch (Throwable t) {
                throw new DeviceException("host library: " + t, t);
            }
        }
        if (lib.kernelIndex.size() != manifest.all().size()) {
            throw new DeviceException("host library has " + lib.kernelIndex.size() + " kernels, the manifest " + manifest.all().size() + " (stale build?)");
        }
    }

    public int threads() {
        try {
            return (int) lib.threads.invokeExact();
        } catch (Throwable t) {
            throw new DeviceException("sumi_host_threads: " + t, t);
        }
    }

    public String buildInfo() {
        try {
            return cString((MemorySegment) lib.buildInfo.invokeExact());
        } catch (Throwable t) {
            return "unknown";
        }
    }

    /** The GEMM micro-kernel the host library picked for this CPU. */
    public String gemmIsa() {
        if (lib.gemmIsa == null) return "unavailable";
        try {
            return cString((MemorySegment) lib.gemmIsa.invokeExact());
        } catch (Throwable t) {
            return "unknown";
        }
    }

    public Path libraryPath() {
        return lib.path;
    }

    @Override
    public String name() {
        return "host (" + threads() + " threads)";
    }

    @Override
    public Kind kind() {
        return Kind.HOST;
    }

    @Override
    public DeviceBuffer allocate(long bytes) {
        checkOpen();
        if (bytes < 0) throw new IllegalArgumentException("allocate: negative size " + bytes);
        long rounded = Math.max(ALIGNMENT, (bytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT);
        long now = used.addAndGet(rounded);
        if (now > capacity) {
            used.addAndGet(-rounded);
            throw new OutOfDeviceMemoryException("host device", bytes, capacity - (now - rounded), capacity);
        }
        Arena arena = Arena.ofShared();  // shared: kernels touch it from every worker thread
        try {
            MemorySegment seg = arena.allocate(Math.max(1, bytes), ALIGNMENT);
            return DeviceBuffer.owning(this, seg.address(), bytes, new Allocation(arena, seg));
        } catch (OutOfMemoryError e) {
            arena.close();
            used.addAndGet(-rounded);
            throw new OutOfDeviceMemoryException("host device (malloc failed)", bytes, capacity - used.get(), capacity);
        }
    }

    @Override
    public void free(DeviceBuffer buffer) {
        checkMine(buffer, "free");
        if (!buffer.isOwning()) throw new IllegalArgumentException("free of a slice; free its parent");
        if (buffer.markFreed()) {
            Allocation a = (Allocation) buffer.handle();
            used.addAndGet(-Math.max(ALIGNMENT, (buffer.bytes() + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT));
            a.arena().close();
        }
    }

    private MemorySegment segment(DeviceBuffer b) {
        return MemorySegment.ofAddress(b.address()).reinterpret(b.bytes());
    }

    @Override
    public void copyToDevice(MemorySegment src, DeviceBuffer dst) {
        checkMine(dst, "copyToDevice");
        if (src.byteSize() != dst.bytes()) throw new IllegalArgumentException("copyToDevice: " + src.byteSize() + " bytes into a buffer of " + dst.bytes());
        MemorySegment.copy(src, 0, segment(dst), 0, dst.bytes());
    }

    @Override
    public void copyToHost(DeviceBuffer src, MemorySegment dst) {
        checkMine(src, "copyToHost");
        if (dst.byteSize() != src.bytes()) throw new IllegalArgumentException("copyToHost: a buffer of " + src.bytes() + " bytes into " + dst.byteSize());
        MemorySegment.copy(segment(src), 0, dst, 0, src.bytes());
    }

    @Override
    public void copy(DeviceBuffer src, DeviceBuffer dst) {
        checkMine(src, "copy");
        checkMine(dst, "copy");
        if (src.bytes() != dst.bytes()) throw new IllegalArgumentException("copy: " + src.bytes() + " bytes into a buffer of " + dst.bytes());
        MemorySegment.copy(segment(src), 0, segment(dst), 0, src.bytes());
    }

    @Override
    public void memset(DeviceBuffer dst, byte value) {
        checkMine(dst, "memset");
        segment(dst).fill(value);
    }

    @Override
    public Kernel kernel(String name) {
        KernelSignature s = manifest.get(name);
        return new Kernel(s, lib.kernelIndex.get(name));
    }

    @Override
    public void launch(Kernel kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        checkOpen();
        if (!(kernel.handle() instanceof Integer index)) throw new DeviceException("kernel " + kernel.name() + " was not resolved on the host device");
        Device.checkLaunchShape(this, kernel, grid, block, sharedBytes);
        Object[] bound = kernel.signature().bind(this, args);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment values = arena.allocate(8L * Math.max(1, bound.length), 8);
            MemorySegment pointers = arena.allocate(ADDRESS, Math.max(1, bound.length));
            for (int i = 0; i < bound.length; i++) {
                long off = 8L * i;
                switch (bound[i]) {
                    case Long v -> values.set(JAVA_LONG, off, v);
                    case Integer v -> values.set(JAVA_INT, off, v);
                    case Float v -> values.set(JAVA_FLOAT, off, v);
                    case Double v -> values.set(ValueLayout.JAVA_DOUBLE, off, v);
                    default -> throw new AssertionError(bound[i]);
                }
                pointers.setAtIndex(ADDRESS, i, values.asSlice(off, 8));
            }
            MemorySegment g = arena.allocateFrom(JAVA_INT, grid.x(), grid.y(), grid.z());
            MemorySegment b = arena.allocateFrom(JAVA_INT, block.x(), block.y(), block.z());
            LaunchProfile prof = profile;
            long t0 = prof == null ? 0 : System.nanoTime();
            int status = (int) lib.launch.invokeExact((int) index, g, b, sharedBytes, pointers);
            if (status != 0) throw new DeviceException(lib.lastError());
            if (prof != null) prof.add(kernel.name(), System.nanoTime() - t0);
        } catch (DeviceException e) {
            throw e;
        } catch (Throwable t) {
            throw new DeviceException("kernel " + kernel.name() + ": host launch failed: " + t, t);
        }
    }

    // sumi_gemm_params of native/sumi_host.h, field by field
    private static final long G_A = 0, G_B = 8, G_C = 16, G_LDA = 24, G_LDB = 32, G_LDC = 40,
            G_STRIDE_A = 48, G_STRIDE_B = 56, G_STRIDE_C = 64, G_M = 72, G_N = 80, G_K = 88, G_BATCH = 96,
            G_TRANS_A = 104, G_TRANS_B = 108, G_A_TYPE = 112, G_B_TYPE = 116, G_C_TYPE = 120,
            G_ALPHA = 124, G_BETA = 128, G_SIZE = 136;

    @Override
    public void gemm(GemmParams p) {
        checkOpen();
        p.validate();
        checkMine(p.a().buffer(), "gemm A");
        checkMine(p.b().buffer(), "gemm B");
        checkMine(p.c().buffer(), "gemm C");
        if (lib.gemm == null) throw new DeviceException("the host library has no GEMM (sumi_host_gemm missing: stale build?)");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(G_SIZE, 8);
            s.set(JAVA_LONG, G_A, p.a().buffer().address());
            s.set(JAVA_LONG, G_B, p.b().buffer().address());
            s.set(JAVA_LONG, G_C, p.c().buffer().address());
            s.set(JAVA_LONG, G_LDA, p.lda());
            s.set(JAVA_LONG, G_LDB, p.ldb());
            s.set(JAVA_LONG, G_LDC, p.ldc());
            s.set(JAVA_LONG, G_STRIDE_A, p.strideA());
            s.set(JAVA_LONG, G_STRIDE_B, p.strideB());
            s.set(JAVA_LONG, G_STRIDE_C, p.strideC());
            s.set(JAVA_LONG, G_M, p.m());
            s.set(JAVA_LONG, G_N, p.n());
            s.set(JAVA_LONG, G_K, p.k());
            s.set(JAVA_LONG, G_BATCH, p.batchCount());
            s.set(JAVA_INT, G_TRANS_A, p.transA() ? 1 : 0);
            s.set(JAVA_INT, G_TRANS_B, p.transB() ? 1 : 0);
            s.set(JAVA_INT, G_A_TYPE, p.a().dtype().code);
            s.set(JAVA_INT, G_B_TYPE, p.b().dtype().code);
            s.set(JAVA_INT, G_C_TYPE, p.c().dtype().code);
            s.set(JAVA_FLOAT, G_ALPHA, p.alpha());
            s.set(JAVA_FLOAT, G_BETA, p.beta());
            LaunchProfile prof = profile;
            long t0 = prof == null ? 0 : System.nanoTime();
            int status = (int) lib.gemm.invokeExact(s);
            if (status != 0) throw new DeviceException(lib.lastError());
            if (prof != null) prof.add("gemm", System.nanoTime() - t0);
        } catch (DeviceException e) {
            throw e;
        } catch (Throwable t) {
            throw new DeviceException("gemm: host call failed: " + t, t);
        }
    }

    /**
     * Starts timing every kernel launch and GEMM call of this device (the native call only, without the
     * argument marshalling around it), replacing any profile running; {@link #stopProfile} returns it.
     * For benchmarks: {@code sumi bench unet --profile}.
     */
    public void startProfile() {
        profile = new LaunchProfile();
    }

    /** The profile since {@link #startProfile}, and stops profiling; null if none was running. */
    public LaunchProfile stopProfile() {
        LaunchProfile p = profile;
        profile = null;
        return p;
    }

    @Override
    public void synchronize() {
        // every host call completes before it returns
    }

    @Override
    public MemoryInfo memoryInfo() {
        return new MemoryInfo(capacity - used.get(), capacity);
    }

    /**
     * Runs {@code use} with this device's scratch buffer of at least {@code bytes}, held exclusively
     * for the call (other threads wait): host-only ops that need a large temporary (materialised
     * attention's score matrices) take it from here rather than allocate in every training step. The
     * buffer grows to the largest size asked for and is kept, counted in {@link #memoryInfo}, until
     * {@link #close}; callers bound what they ask for.
     */
    public void withWorkspace(long bytes, Consumer<DeviceBuffer> use) {
        synchronized (workspaceLock) {
            checkOpen();
            if (workspace == null || workspace.bytes() < bytes) {
                if (workspace != null) free(workspace);
                workspace = null;
                workspace = allocate(bytes);
            }
            use.accept(workspace);
        }
    }

    @Override
    public void close() {
        synchronized (workspaceLock) {
            if (workspace != null) free(workspace);
            workspace = null;
        }
        closed = true;
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("host device is closed");
    }

    private void checkMine(DeviceBuffer b, String op) {
        if (b.device() != this) throw new DeviceException(op + ": buffer belongs to " + b.device().name() + ", not " + name());
        if (b.isFreed()) throw new IllegalStateException(op + ": buffer was freed");
    }
}
