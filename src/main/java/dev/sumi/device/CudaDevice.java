package dev.sumi.device;

import dev.sumi.tensor.Tensor;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static jcuda.driver.JCudaDriver.*;

/**
 * A CUDA GPU driven through the JCuda driver API, running the kernels of cuda-kernels/ from the fatbin
 * the build ships in the jar ({@value #FATBIN}) and GEMMs through cuBLAS ({@link Cublas}).
 *
 * <p>Contexts: the device's <em>primary</em> context, which the CUDA runtime (and so cuBLAS) shares.
 * Every call makes it current on the calling thread first, so any thread may use the device.
 * Work: one non-blocking stream, in issue order; {@link #copyToHost} and {@link #synchronize} wait for it.
 * Errors: JCuda's exceptions are off; every return code is checked here and a failure becomes a
 * {@link DeviceException} naming the call and the CUresult ("cuMemAlloc failed: CUDA_ERROR_INVALID_VALUE (1)").
 * Kernel faults surface at the next synchronizing call; {@code -Dsumi.cuda.syncLaunches=true}
 * synchronizes after every launch so that the failing kernel is the one named.
 */
public final class CudaDevice implements Device {

    /** The kernels, compiled by scripts/build-kernels with nvcc (SASS for each target plus PTX). */
    public static final String FATBIN = "/kernels/sumi.fatbin";
    /** The targets the fatbin holds, whitespace-separated: {@code sm_75 sm_80 ... compute_120}. */
    public static final String FATBIN_TARGETS = "/kernels/sumi.fatbin.targets";

    private static final boolean SYNC_LAUNCHES = Boolean.getBoolean("sumi.cuda.syncLaunches");
    /** Host copies go through java.nio buffers, which hold at most 2 GiB; 1 GiB pieces. */
    private static final long COPY_CHUNK = 1L << 30;

    private final int ordinal;
    private final CUdevice device;
    private final CUcontext context;
    private final Stream stream;
    private final String name;
    private final int ccMajor, ccMinor;
    private final Set<DeviceBuffer> live = ConcurrentHashMap.newKeySet();   // owning buffers not yet freed
    private final Map<String, Kernel> kernels = new ConcurrentHashMap<>();
    private CUmodule module;          // loaded on the first kernel() call; guarded by this
    private Cublas blas;              // created on the first gemm(); guarded by this
    private volatile String lastLaunch = "none";
    private volatile boolean closed;

    private CudaDevice(int ordinal, CUdevice device, CUcontext context, Stream stream, String name, int ccMajor, int ccMinor) {
        this.ordinal = ordinal;
        this.device = device;
        this.context = context;
        this.stream = stream;
        this.name = name;
        this.ccMajor = ccMajor;
        this.ccMinor = ccMinor;
    }

    // ---------------------------------------------------------------- discovery

    /** True when the CUDA driver loads and sees at least one GPU. Never throws. */
    public static boolean isAvailable() {
        try {
            return Driver.state().problem() == null && Driver.state().deviceCount() > 0;
        } catch (Throwable t) {
            return false;
        }
    }

    /** Why {@link #isAvailable()} is false, in one line; null when it is true. Never throws. */
    public static String unavailableReason() {
        try {
            Driver.State s = Driver.state();
            if (s.problem() != null) return s.problem();
            if (s.deviceCount() == 0) return "no GPU (the CUDA driver sees no device; check nvidia-smi and CUDA_VISIBLE_DEVICES)";
            return null;
        } catch (Throwable t) {
            return "the CUDA driver could not be probed: " + Driver.firstLine(t);
        }
    }

    /** Opens GPU {@code ordinal}; throws a {@link DeviceException} with a one-line reason when it cannot. */
    public static CudaDevice open(int ordinal) {
        String why = unavailableReason();
        if (why != null) throw new DeviceException(why);
        int count = Driver.state().deviceCount();
        if (ordinal < 0 || ordinal >= count) {
            throw new DeviceException("no CUDA device " + ordinal + ": the driver sees " + count + " GPU" + (count == 1 ? "" : "s")
                    + " (cuda:0" + (count > 1 ? "..cuda:" + (count - 1) : "") + ")");
        }
        CUdevice dev = new CUdevice();
        check(cuDeviceGet(dev, ordinal), "cuDeviceGet");
        String gpuName = deviceName(dev);
        int major = attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        int minor = attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        CUcontext ctx = new CUcontext();
        check(cuDevicePrimaryCtxRetain(ctx, dev), "cuDevicePrimaryCtxRetain");
        try {
            check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
            Stream s = new Stream();
            check(cuStreamCreate(s, CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate");
            return new CudaDevice(ordinal, dev, ctx, s, gpuName, major, minor);
        } catch (RuntimeException e) {
            cuDevicePrimaryCtxRelease(dev);
            throw e;
        }
    }

    // ---------------------------------------------------------------- Device

    @Override
    public String name() {
        return "cuda:" + ordinal + " " + name;
    }

    @Override
    public Kind kind() {
        return Kind.CUDA;
    }

    public int ordinal() {
        return ordinal;
    }

    /** Compute capability as {major, minor}, e.g. {9, 0} on an H100. */
    public int[] computeCapability() {
        return new int[] {ccMajor, ccMinor};
    }

    @Override
    public DeviceBuffer allocate(long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("allocate: negative size " + bytes);
        enter();
        DevPtr p = new DevPtr();
        int r = cuMemAlloc(p, Math.max(bytes, 1));   // the driver rejects 0 bytes; an empty buffer still gets an address
        if (r == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
            MemoryInfo m = memoryInfo();
            throw new OutOfDeviceMemoryException("cuMemAlloc on " + name(), bytes, m.free(), m.total());
        }
        check(r, "cuMemAlloc(" + bytes + " bytes)");
        DeviceBuffer b = new DeviceBuffer(this, p.address(), bytes, p);
        live.add(b);
        return b;
    }

    @Override
    public void free(DeviceBuffer buffer) {
        if (buffer.device() != this) throw new DeviceException("free: " + buffer + " does not belong to " + name());
        if (!buffer.isOwning()) throw new IllegalArgumentException("free: " + buffer + " is a slice; free the buffer it was cut from");
        if (!buffer.markFreed()) return;
        live.remove(buffer);
        if (closed) return;   // close() released everything
        enter();
        // cuMemFree must not race kernels still reading the buffer on our non-blocking stream.
        syncStream("free");
        check(cuMemFree((DevPtr) buffer.handle()), "cuMemFree");
    }

    @Override
    public void copyToDevice(MemorySegment src, DeviceBuffer dst) {
        mine(dst, "copyToDevice");
        if (src.byteSize() != dst.bytes()) {
            throw new IllegalArgumentException("copyToDevice: " + src.byteSize() + " host bytes into a buffer of " + dst.bytes());
        }
        enter();
        CUdeviceptr d = devPtr(dst);
        for (long off = 0; off < dst.bytes(); off += COPY_CHUNK) {
            long n = Math.min(COPY_CHUNK, dst.bytes() - off);
            MemorySegment piece = src.asSlice(off, n);
            // From pageable memory the driver stages the bytes before it returns, so the caller may free src at once.
            if (piece.isNative()) {
                check(cuMemcpyHtoDAsync(d.withByteOffset(off), Pointer.to(piece.asByteBuffer()), n, stream), "cuMemcpyHtoDAsync");
            } else {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment staged = arena.allocate(n, 16).copyFrom(piece);
                    check(cuMemcpyHtoDAsync(d.withByteOffset(off), Pointer.to(staged.asByteBuffer()), n, stream), "cuMemcpyHtoDAsync");
                }
            }
        }
    }

    @Override
    public void copyToHost(DeviceBuffer src, MemorySegment dst) {
        mine(src, "copyToHost");
        if (dst.byteSize() != src.bytes()) {
            throw new IllegalArgumentException("copyToHost: a buffer of " + src.bytes() + " bytes into " + dst.byteSize() + " host bytes");
        }
        if (dst.isReadOnly()) throw new IllegalArgumentException("copyToHost: the host segment is read-only");
        enter();
        CUdeviceptr s = devPtr(src);
        for (long off = 0; off < src.bytes(); off += COPY_CHUNK) {
            long n = Math.min(COPY_CHUNK, src.bytes() - off);
            MemorySegment piece = dst.asSlice(off, n);
            if (piece.isNative()) {
                check(cuMemcpyDtoHAsync(Pointer.to(piece.asByteBuffer()), s.withByteOffset(off), n, stream), "cuMemcpyDtoHAsync");
            } else {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment staged = arena.allocate(n, 16);
                    check(cuMemcpyDtoHAsync(Pointer.to(staged.asByteBuffer()), s.withByteOffset(off), n, stream), "cuMemcpyDtoHAsync");
                    syncStream("copyToHost");
                    piece.copyFrom(staged);
                }
            }
        }
        syncStream("copyToHost");   // also for 0 bytes: the call promises that pending work is done
    }

    @Override
    public void copy(DeviceBuffer src, DeviceBuffer dst) {
        mine(src, "copy");
        mine(dst, "copy");
        if (src.bytes() != dst.bytes()) {
            throw new IllegalArgumentException("copy: " + src.bytes() + " bytes into a buffer of " + dst.bytes());
        }
        if (src.bytes() == 0) return;
        enter();
        check(cuMemcpyDtoDAsync(devPtr(dst), devPtr(src), src.bytes(), stream), "cuMemcpyDtoDAsync");
    }

    @Override
    public void memset(DeviceBuffer dst, byte value) {
        mine(dst, "memset");
        if (dst.bytes() == 0) return;
        enter();
        check(cuMemsetD8Async(devPtr(dst), value, dst.bytes(), stream), "cuMemsetD8Async");
    }

    @Override
    public Kernel kernel(String kernelName) {
        checkOpen();
        Kernel k = kernels.get(kernelName);
        if (k != null) return k;
        KernelSignature sig = KernelManifest.bundled().get(kernelName);   // names the kernel if it is unknown
        synchronized (this) {
            k = kernels.get(kernelName);
            if (k != null) return k;
            CUmodule m = module();
            enter();
            CUfunction f = new CUfunction();
            int r = cuModuleGetFunction(f, m, kernelName);
            if (r == CUresult.CUDA_ERROR_NOT_FOUND) {
                throw new DeviceException("kernel " + kernelName + " is in the kernel manifest but not in " + FATBIN
                        + " (a stale build? rebuild the kernels)");
            }
            check(r, "cuModuleGetFunction(" + kernelName + ")");
            k = new Kernel(sig, f);
            kernels.put(kernelName, k);
            return k;
        }
    }

    @Override
    public void launch(Kernel kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        checkOpen();
        if (!(kernel.handle() instanceof CUfunction f) || kernels.get(kernel.name()) != kernel) {
            throw new DeviceException("kernel " + kernel.name() + " was not resolved on " + name() + " (use this device's kernel(name))");
        }
        Device.checkLaunchShape(this, kernel, grid, block, sharedBytes);
        Object[] bound = kernel.signature().bind(this, args);
        List<ParamKind> kinds = kernel.signature().params();
        // kernelParams is an array of pointers, one per parameter, each to the parameter's value.
        NativePointerObject[] values = new NativePointerObject[bound.length];
        for (int i = 0; i < bound.length; i++) {
            values[i] = switch (kinds.get(i)) {
                case PTR, I64 -> Pointer.to(new long[] {(Long) bound[i]});
                case I32, U32 -> Pointer.to(new int[] {(Integer) bound[i]});
                case F32 -> Pointer.to(new float[] {(Float) bound[i]});
                case F64 -> Pointer.to(new double[] {(Double) bound[i]});
            };
        }
        Pointer params = values.length == 0 ? null : Pointer.to(values);
        enter();
        String what = kernel.name() + " grid " + grid + " block " + block + " shared " + sharedBytes;
        lastLaunch = what;
        check(cuLaunchKernel(f, grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(), sharedBytes, stream, params, null),
                "cuLaunchKernel(" + what + ")");
        if (SYNC_LAUNCHES) syncStream("launch of " + kernel.name());
    }

    @Override
    public void gemm(GemmParams p) {
        p.validate();
        for (Tensor t : new Tensor[] {p.a(), p.b(), p.c()}) mine(t.buffer(), "gemm");
        if (p.m() == 0 || p.n() == 0) return;   // C is empty: nothing to write
        if (p.k() == 0) {
            // C = beta C. Done here: cuBLAS has left C untouched for k == 0 (pytorch/pytorch#31421).
            scaleC(p);
            return;
        }
        Cublas h;
        synchronized (this) {
            checkOpen();
            if (blas == null) {
                enter();
                blas = Cublas.create(stream.address(), Driver.state().version());
            }
            h = blas;
        }
        enter();
        h.gemm(p, p.a().buffer().address(), p.b().buffer().address(), p.c().buffer().address());
        if (SYNC_LAUNCHES) syncStream("gemm");
    }

    /** C_i = beta C_i (zeros when beta == 0, whatever C held) over C's m x n columns in every batch. */
    private void scaleC(GemmParams p) {
        if (p.beta() == 1f) return;
        Tensor c = p.c();
        long elem = c.dtype().byteSize;
        String suffix = c.dtype().kernelSuffix();
        Kernel k = kernel((p.beta() == 0f ? "fill_" : "scale_") + suffix);
        boolean packedColumns = p.ldc() == p.m();
        int batches = p.strideC() == 0 ? 1 : p.batchCount();   // a shared C is scaled once
        boolean packedBatches = packedColumns && p.strideC() == (long) p.m() * p.n();
        long runLength = packedBatches ? (long) p.m() * p.n() * batches : packedColumns ? (long) p.m() * p.n() : p.m();
        for (int b = 0; b < (packedBatches ? 1 : batches); b++) {
            for (int j = 0; j < (packedColumns ? 1 : p.n()); j++) {
                long first = b * p.strideC() + j * p.ldc();
                DeviceBuffer run = c.buffer().slice(first * elem, runLength * elem);
                Dim3 grid = Dim3.of((int) Math.min(4096, (runLength + 255) / 256));
                if (p.beta() == 0f) launch(k, grid, Dim3.of(256), 0, run, 0f, runLength);
                else launch(k, grid, Dim3.of(256), 0, run, run, p.beta(), runLength);
            }
        }
    }

    @Override
    public void synchronize() {
        checkOpen();
        enter();
        syncStream("synchronize");
    }

    @Override
    public MemoryInfo memoryInfo() {
        checkOpen();
        enter();
        long[] free = new long[1], total = new long[1];
        check(cuMemGetInfo(free, total), "cuMemGetInfo");
        return new MemoryInfo(free[0], total[0]);
    }

    /**
     * Waits for the stream, then frees every buffer still allocated, the cuBLAS handle, the kernels, the
     * stream and this device's hold on the primary context. Idempotent; throws the first failure after
     * releasing everything it can.
     */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        List<String> failures = new ArrayList<>();
        note(failures, cuCtxSetCurrent(context), "cuCtxSetCurrent");
        note(failures, cuStreamSynchronize(stream), "cuStreamSynchronize");
        for (DeviceBuffer b : live) {
            if (b.markFreed()) note(failures, cuMemFree((DevPtr) b.handle()), "cuMemFree");
        }
        live.clear();
        if (blas != null) {
            try {
                blas.close();
            } catch (RuntimeException e) {
                failures.add(e.getMessage());
            }
            blas = null;
        }
        kernels.clear();
        if (module != null) note(failures, cuModuleUnload(module), "cuModuleUnload");
        module = null;
        note(failures, cuStreamDestroy(stream), "cuStreamDestroy");
        note(failures, cuDevicePrimaryCtxRelease(device), "cuDevicePrimaryCtxRelease");
        if (!failures.isEmpty()) throw new DeviceException("closing " + name() + ": " + String.join("; ", failures));
    }

    @Override
    public String toString() {
        return name();
    }

    // ---------------------------------------------------------------- internals

    /** Loads the fatbin once; the first kernel lookup pays for it (and for the PTX JIT on GPUs without SASS). */
    private CUmodule module() {
        if (module != null) return module;
        byte[] image = resource(FATBIN);
        if (image == null) {
            throw new DeviceException("the CUDA kernels were not built (no nvcc at build time): " + FATBIN + " is not in the jar");
        }
        enter();
        CUmodule m = new CUmodule();
        int r = cuModuleLoadData(m, image);
        if (r == CUresult.CUDA_ERROR_NO_BINARY_FOR_GPU || r == CUresult.CUDA_ERROR_UNSUPPORTED_PTX_VERSION
                || r == CUresult.CUDA_ERROR_INVALID_PTX || r == CUresult.CUDA_ERROR_JIT_COMPILER_NOT_FOUND) {
            byte[] t = resource(FATBIN_TARGETS);
            String targets = t == null ? "unknown targets" : new String(t, StandardCharsets.UTF_8).trim().replaceAll("\\s+", " ");
            throw new DeviceException("cuModuleLoadData failed: " + describe(r) + ": the bundled kernels (" + targets
                    + ") cannot run on " + name() + " (sm_" + ccMajor + ccMinor + ", driver "
                    + Driver.versionString(Driver.state().version()) + ")");
        }
        check(r, "cuModuleLoadData(" + FATBIN + ")");
        module = m;
        return m;
    }

    static byte[] resource(String path) {
        try (InputStream in = CudaDevice.class.getResourceAsStream(path)) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            throw new DeviceException("cannot read " + path + ": " + e.getMessage(), e);
        }
    }

    /** Makes the primary context current on the calling thread (cuBLAS, through the runtime, follows it). */
    private void enter() {
        checkOpen();
        check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException(name() + " is closed");
    }

    private void syncStream(String during) {
        int r = cuStreamSynchronize(stream);
        if (r != CUresult.CUDA_SUCCESS) {
            throw new DeviceException("cuStreamSynchronize failed: " + describe(r) + " during " + during
                    + " (an earlier launch may have faulted; the last one was " + lastLaunch + ")");
        }
    }

    private void mine(DeviceBuffer b, String op) {
        if (b.device() != this) throw new DeviceException(op + ": " + b + " is not on " + name());
        b.checkLive();
    }

    /** The buffer's address as a CUdeviceptr: its allocation's pointer plus the slice offset. */
    private static CUdeviceptr devPtr(DeviceBuffer b) {
        if (!(b.handle() instanceof DevPtr base)) throw new DeviceException(b + " was not allocated by a CUDA device");
        long offset = b.address() - base.address();
        return offset == 0 ? base : base.withByteOffset(offset);
    }

    private static String deviceName(CUdevice dev) {
        byte[] buf = new byte[256];
        check(cuDeviceGetName(buf, buf.length, dev), "cuDeviceGetName");
        int n = 0;
        while (n < buf.length && buf[n] != 0) n++;
        return new String(buf, 0, n, StandardCharsets.UTF_8).trim();
    }

    static int attribute(CUdevice dev, int attribute) {
        int[] v = new int[1];
        check(cuDeviceGetAttribute(v, attribute, dev), "cuDeviceGetAttribute(" + CUdevice_attribute.stringFor(attribute) + ")");
        return v[0];
    }

    /** Throws a DeviceException "call failed: NAME (code)" unless {@code result} is CUDA_SUCCESS. */
    static void check(int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) throw new DeviceException(call + " failed: " + describe(result));
    }

    private static void note(List<String> failures, int result, String call) {
        if (result != CUresult.CUDA_SUCCESS) failures.add(call + " failed: " + describe(result));
    }

    /** "CUDA_ERROR_OUT_OF_MEMORY (2)"; codes newer than JCuda's table are named by the driver itself. */
    static String describe(int result) {
        String s = CUresult.stringFor(result);
        if (s == null || s.startsWith("INVALID CUresult")) {
            try {
                String[] n = new String[1];
                if (cuGetErrorName(result, n) == CUresult.CUDA_SUCCESS && n[0] != null) s = n[0];
                else s = "CUresult";
            } catch (Throwable t) {
                s = "CUresult";
            }
        }
        return s + " (" + result + ")";
    }

    /** A CUdeviceptr whose address this package can read (JCuda keeps it protected). */
    static final class DevPtr extends CUdeviceptr {
        long address() {
            return getNativePointer() + getByteOffset();
        }
    }

    /** A CUstream whose handle can be handed to cuBLAS as a cudaStream_t. */
    static final class Stream extends CUstream {
        long address() {
            return getNativePointer();
        }
    }

    /**
     * The driver, probed once per process: libcuda present, JCuda's JNI library loaded, cuInit done.
     * Loading JCuda's natives without libcuda fails in a class initializer and poisons the class for
     * the rest of the run, so libcuda is looked for first, through the FFM loader.
     */
    static final class Driver {
        record State(String problem, int version, int deviceCount) {}

        private static volatile State state;

        private Driver() {}

        static State state() {
            State s = state;
            if (s == null) {
                synchronized (Driver.class) {
                    if (state == null) state = probe();
                    s = state;
                }
            }
            return s;
        }

        static String libraryName() {
            return isWindows() ? "nvcuda.dll" : "libcuda.so.1";
        }

        static boolean isWindows() {
            return System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("windows");
        }

        /** 13000 -> "13.0", 12080 -> "12.8". */
        static String versionString(int v) {
            return v <= 0 ? "unknown" : (v / 1000) + "." + (v % 1000) / 10;
        }

        private static State probe() {
            String lib = libraryName();
            try {
                SymbolLookup.libraryLookup(lib, Arena.global());   // stays loaded: JCuda links against it next
            } catch (IllegalArgumentException e) {
                return new State("no CUDA driver (" + lib + " not found)", 0, 0);
            } catch (IllegalCallerException e) {
                return new State("native access is disabled (run java with --enable-native-access=ALL-UNNAMED)", 0, 0);
            } catch (Throwable t) {
                return new State("no CUDA driver (" + lib + " could not be loaded: " + firstLine(t) + ")", 0, 0);
            }
            try {
                JCudaDriver.setExceptionsEnabled(false);
            } catch (Throwable t) {
                return new State("the JCuda driver library did not load: " + firstLine(t), 0, 0);
            }
            try {
                int r = cuInit(0);
                if (r == CUresult.CUDA_ERROR_NO_DEVICE) return new State("no GPU (cuInit: " + describe(r) + ")", version(), 0);
                if (r == CUresult.CUDA_ERROR_STUB_LIBRARY) {
                    return new State("no CUDA driver (" + lib + " is the CUDA toolkit's stub, not a driver; cuInit: " + describe(r) + ")", 0, 0);
                }
                if (r == CUresult.CUDA_ERROR_SYSTEM_DRIVER_MISMATCH) {
                    return new State("the CUDA driver library and kernel module differ in version (cuInit: " + describe(r) + ")", version(), 0);
                }
                if (r != CUresult.CUDA_SUCCESS) return new State("cuInit failed: " + describe(r), version(), 0);
                int[] count = new int[1];
                r = cuDeviceGetCount(count);
                if (r != CUresult.CUDA_SUCCESS) return new State("cuDeviceGetCount failed: " + describe(r), version(), 0);
                return new State(null, version(), count[0]);
            } catch (Throwable t) {
                return new State("the CUDA driver failed: " + firstLine(t), 0, 0);
            }
        }

        private static int version() {
            int[] v = new int[1];
            return cuDriverGetVersion(v) == CUresult.CUDA_SUCCESS ? v[0] : 0;
        }

        static String firstLine(Throwable t) {
            String m = t.getMessage();
            if (m == null || m.isBlank()) return t.getClass().getSimpleName();
            m = m.strip();
            int nl = m.indexOf('\n');
            return nl < 0 ? m : m.substring(0, nl).strip();
        }
    }
}
