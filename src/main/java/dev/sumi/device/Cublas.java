package dev.sumi.device;

import dev.sumi.tensor.DType;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLAS, bound through the Foreign Function &amp; Memory API: one handle on one stream, and the one
 * call sumi needs, {@code cublasGemmStridedBatchedEx} with F32 compute.
 *
 * <p>JCublas is not used because its JNI library is linked against one CUDA major; this binding
 * loads whichever cuBLAS the machine has, newest first ({@code libcublas.so.13}, {@code .so.12},
 * {@code libcublas.so}; {@code cublas64_13.dll}, {@code cublas64_12.dll}), by the dynamic loader's
 * search and then in {@code $CUDA_HOME/lib64}, {@code /usr/local/cuda/lib64}, the directories of
 * {@code LD_LIBRARY_PATH} and {@code /usr/local/cuda-*}{@code /lib64} ({@code %CUDA_PATH%\bin\x64} and
 * {@code \bin} on Windows). {@code -Dsumi.cublas=PATH} names the library and disables the search.
 * A cuBLAS newer than the driver (cuBLAS 13 under a CUDA 12 driver) is passed over.
 *
 * <p>Math mode: {@code CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION}, set
 * explicitly after {@code cublasCreate_v2} so that no environment default (TF32, BF16x9 emulation)
 * applies. With {@code CUBLAS_COMPUTE_32F} this keeps F32 inputs in full F32 (no TF32), lets F16/BF16
 * inputs use tensor cores with F32 accumulation, and forces split-K reductions to accumulate in F32
 * even when C is F16/BF16. {@code CUBLAS_PEDANTIC_MATH} is not used: it would also keep F16/BF16 off
 * the tensor cores, for no accuracy sumi needs.
 */
public final class Cublas implements AutoCloseable {

    public static final String PATH_PROPERTY = "sumi.cublas";

    // Values from cublas_api.h and library_types.h (stable since CUDA 11).
    static final int CUBLAS_STATUS_SUCCESS = 0;
    static final int CUBLAS_OP_N = 0, CUBLAS_OP_T = 1;
    static final int CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14;
    static final int CUBLAS_COMPUTE_32F = 68;
    static final int CUBLAS_GEMM_DEFAULT = -1;
    static final int CUBLAS_DEFAULT_MATH = 0, CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16;
    static final int MATH_MODE = CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
    /** libraryPropertyType: MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL. */
    private static final int MAJOR_VERSION = 0, MINOR_VERSION = 1, PATCH_LEVEL = 2;

    /** What {@code sumi doctor} says about cuBLAS: where it is and its version, or why none is usable. */
    public record Probe(boolean found, String path, String version, String reason) {
        public String describe() {
            return found ? "cuBLAS " + version + " (" + path + ")" : "cuBLAS not usable: " + reason;
        }
    }

    private final Library lib;
    private final MemorySegment handle;   // cublasHandle_t
    private boolean closed;

    private Cublas(Library lib, MemorySegment handle) {
        this.lib = lib;
        this.handle = handle;
    }

    // ---------------------------------------------------------------- probing

    /** Finds and loads cuBLAS without creating a handle (no GPU needed). Never throws. */
    public static Probe probe() {
        int driver;
        try {
            driver = CudaDevice.Driver.state().version();
        } catch (Throwable t) {
            driver = 0;
        }
        return probe(driver);
    }

    /** As {@link #probe()}, for a driver of version {@code driverVersion} (13000 = 13.0; 0 = unknown). */
    public static Probe probe(int driverVersion) {
        try {
            Loaded l = load(driverVersion);
            return l.lib == null ? new Probe(false, null, null, l.reason) : new Probe(true, l.lib.path, l.lib.version, null);
        } catch (Throwable t) {
            return new Probe(false, null, null, "the cuBLAS probe failed: " + t);
        }
    }

    // ---------------------------------------------------------------- the handle

    /**
     * A handle whose work goes on {@code stream} (a CUstream / cudaStream_t), for a driver of version
     * {@code driverVersion} (cuDriverGetVersion: 13000 = 13.0; 0 = unknown). The caller has made the
     * CUDA context current on this thread, as it must before every call here.
     */
    static Cublas create(long stream, int driverVersion) {
        Loaded l = load(driverVersion);
        if (l.lib == null) throw new DeviceException("cuBLAS is not available: " + l.reason);
        Library lib = l.lib;
        MemorySegment h;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ADDRESS);
            lib.check(lib.call(lib.create, "cublasCreate_v2", out), "cublasCreate_v2");
            h = out.get(ADDRESS, 0);
        }
        Cublas c = new Cublas(lib, h);
        try {
            lib.check(lib.call(lib.setStream, "cublasSetStream_v2", h, MemorySegment.ofAddress(stream)), "cublasSetStream_v2");
            lib.check(lib.call(lib.setMathMode, "cublasSetMathMode", h, MATH_MODE), "cublasSetMathMode");
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
        return c;
    }

    /** The library this handle uses: "13.0.2 (/usr/local/cuda/lib64/libcublas.so.13)". */
    public String describe() {
        return lib.version + " (" + lib.path + ")";
    }

    /**
     * {@code C_i = alpha op(A_i) op(B_i) + beta C_i} for every batch, cuBLAS semantics (see {@link GemmParams});
     * {@code a}, {@code b}, {@code c} are the device addresses of the three operands. Enqueued on the stream.
     */
    void gemm(GemmParams p, long a, long b, long c) {
        if (closed) throw new IllegalStateException("the cuBLAS handle is closed");
        int lda = ld(p.lda(), "lda"), ldb = ld(p.ldb(), "ldb"), ldc = ld(p.ldc(), "ldc");
        int at = dataType(p.a().dtype()), bt = dataType(p.b().dtype()), ct = dataType(p.c().dtype());
        int status;
        try (Arena arena = Arena.ofConfined()) {
            // CUBLAS_POINTER_MODE_HOST (the default): cuBLAS reads alpha and beta before it returns.
            MemorySegment alpha = arena.allocateFrom(JAVA_FLOAT, p.alpha());
            MemorySegment beta = arena.allocateFrom(JAVA_FLOAT, p.beta());
            status = (int) lib.gemm.invokeExact(handle,
                    p.transA() ? CUBLAS_OP_T : CUBLAS_OP_N, p.transB() ? CUBLAS_OP_T : CUBLAS_OP_N,
                    p.m(), p.n(), p.k(),
                    alpha,
                    MemorySegment.ofAddress(a), at, lda, p.strideA(),
                    MemorySegment.ofAddress(b), bt, ldb, p.strideB(),
                    beta,
                    MemorySegment.ofAddress(c), ct, ldc, p.strideC(),
                    p.batchCount(), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        } catch (Throwable t) {
            throw new DeviceException("cublasGemmStridedBatchedEx could not be called: " + t, t);
        }
        if (status != CUBLAS_STATUS_SUCCESS) {
            throw new DeviceException("cublasGemmStridedBatchedEx failed: " + lib.statusName(status)
                    + " (transA=" + p.transA() + " transB=" + p.transB() + " m=" + p.m() + " n=" + p.n() + " k=" + p.k()
                    + " " + p.a().dtype() + "x" + p.b().dtype() + "->" + p.c().dtype()
                    + " lda=" + lda + " ldb=" + ldb + " ldc=" + ldc + " batch=" + p.batchCount() + ")");
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        lib.check(lib.call(lib.destroy, "cublasDestroy_v2", handle), "cublasDestroy_v2");
    }

    static int dataType(DType t) {
        return switch (t) {
            case F32 -> CUDA_R_32F;
            case F16 -> CUDA_R_16F;
            case BF16 -> CUDA_R_16BF;
            case I32 -> throw new IllegalArgumentException("gemm: cuBLAS is not used for " + t);
        };
    }

    private static int ld(long v, String what) {
        if (v > Integer.MAX_VALUE) throw new IllegalArgumentException("gemm: " + what + "=" + v + " exceeds cuBLAS's int range");
        return (int) v;
    }

    /** Fallback names, for a cuBLAS without cublasGetStatusName. */
    static String statusNameOf(int status) {
        return switch (status) {
            case 0 -> "CUBLAS_STATUS_SUCCESS";
            case 1 -> "CUBLAS_STATUS_NOT_INITIALIZED";
            case 3 -> "CUBLAS_STATUS_ALLOC_FAILED";
            case 7 -> "CUBLAS_STATUS_INVALID_VALUE";
            case 8 -> "CUBLAS_STATUS_ARCH_MISMATCH";
            case 11 -> "CUBLAS_STATUS_MAPPING_ERROR";
            case 13 -> "CUBLAS_STATUS_EXECUTION_FAILED";
            case 14 -> "CUBLAS_STATUS_INTERNAL_ERROR";
            case 15 -> "CUBLAS_STATUS_NOT_SUPPORTED";
            case 16 -> "CUBLAS_STATUS_LICENSE_ERROR";
            default -> "cublasStatus_t";
        };
    }

    // ---------------------------------------------------------------- loading

    /** A loaded cuBLAS and its bound functions. Kept for the life of the process. */
    static final class Library {
        final String path;
        final String version;   // "13.0.2"
        final int major;
        final MethodHandle create, destroy, setStream, setMathMode, gemm;
        final MethodHandle statusName;   // null when the library has no cublasGetStatusName

        Library(String path, String version, int major, SymbolLookup lookup) {
            Linker linker = Linker.nativeLinker();
            this.path = path;
            this.version = version;
            this.major = major;
            create = bind(linker, lookup, "cublasCreate_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            destroy = bind(linker, lookup, "cublasDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
            setStream = bind(linker, lookup, "cublasSetStream_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
            setMathMode = bind(linker, lookup, "cublasSetMathMode", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
            gemm = bind(linker, lookup, "cublasGemmStridedBatchedEx", FunctionDescriptor.of(JAVA_INT,
                    ADDRESS,                       // cublasHandle_t handle
                    JAVA_INT, JAVA_INT,            // cublasOperation_t transa, transb
                    JAVA_INT, JAVA_INT, JAVA_INT,  // int m, n, k
                    ADDRESS,                       // const void *alpha
                    ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG,   // const void *A, cudaDataType Atype, int lda, long long strideA
                    ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG,   // const void *B, cudaDataType Btype, int ldb, long long strideB
                    ADDRESS,                       // const void *beta
                    ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG,   // void *C, cudaDataType Ctype, int ldc, long long strideC
                    JAVA_INT,                      // int batchCount
                    JAVA_INT,                      // cublasComputeType_t computeType
                    JAVA_INT));                    // cublasGemmAlgo_t algo
            statusName = lookup.find("cublasGetStatusName")
                    .map(s -> linker.downcallHandle(s, FunctionDescriptor.of(ADDRESS, JAVA_INT)))
                    .orElse(null);
        }

        private static MethodHandle bind(Linker linker, SymbolLookup lookup, String name, FunctionDescriptor fd) {
            MemorySegment s = lookup.find(name).orElseThrow(() -> new NotCublas("it has no " + name));
            return linker.downcallHandle(s, fd);
        }

        int call(MethodHandle h, String name, Object... args) {
            try {
                return (int) h.invokeWithArguments(args);
            } catch (Throwable t) {
                throw new DeviceException(name + " could not be called: " + t, t);
            }
        }

        void check(int status, String call) {
            if (status != CUBLAS_STATUS_SUCCESS) throw new DeviceException(call + " failed: " + statusName(status));
        }

        /** "CUBLAS_STATUS_INVALID_VALUE (7)". */
        String statusName(int status) {
            String s = null;
            if (statusName != null) {
                try {
                    MemorySegment p = (MemorySegment) statusName.invokeExact(status);
                    if (!p.equals(MemorySegment.NULL)) s = p.reinterpret(128).getString(0);
                } catch (Throwable ignored) {
                    // fall back to the table
                }
            }
            if (s == null || s.isBlank() || s.contains("UNKNOWN")) s = statusNameOf(status);
            return s + " (" + status + ")";
        }
    }

    /** A library that loaded but is not (a usable) cuBLAS. */
    private static final class NotCublas extends RuntimeException {
        NotCublas(String message) {
            super(message, null, false, false);
        }
    }

    /** The outcome of a search: the library, or why there is none. */
    record Loaded(Library lib, String reason) {}

    private static final Map<String, Loaded> LOADED = new ConcurrentHashMap<>();

    /** Searches once per (sumi.cublas, driver major); a library once accepted stays loaded. */
    static Loaded load(int driverVersion) {
        String forced = System.getProperty(PATH_PROPERTY);
        String key = (forced == null ? "" : forced) + "|" + (driverVersion / 1000);
        return LOADED.computeIfAbsent(key, k -> search(forced, driverVersion));
    }

    private static Loaded search(String forced, int driverVersion) {
        List<String> rejected = new ArrayList<>();
        List<String> targets = forced != null ? List.of(forced) : candidates();
        for (String target : targets) {
            boolean byName = !target.contains("/") && !target.contains("\\");
            Arena arena = Arena.ofShared();
            Library lib = null;
            try {
                SymbolLookup lookup = byName ? SymbolLookup.libraryLookup(target, arena)
                        : SymbolLookup.libraryLookup(Path.of(target), arena);
                int[] v = version(lookup);
                String version = v[0] + "." + v[1] + "." + v[2];
                String path = byName ? loadedPath(target).orElse(target + " (from the loader's search path)") : target;
                if (driverVersion > 0 && v[0] > driverVersion / 1000) {
                    rejected.add(path + " is cuBLAS " + version + ", which needs a CUDA " + v[0] + " driver (this one is "
                            + CudaDevice.Driver.versionString(driverVersion) + ")");
                } else {
                    lib = new Library(path, version, v[0], lookup);
                    return new Loaded(lib, null);
                }
            } catch (IllegalArgumentException e) {
                // not found by this name or at this path: try the next one
                if (forced != null) rejected.add(target + " cannot be loaded (" + CudaDevice.Driver.firstLine(e) + ")");
            } catch (NotCublas e) {
                rejected.add(target + " is not cuBLAS: " + e.getMessage());
            } catch (IllegalCallerException e) {
                return new Loaded(null, "native access is disabled (run java with --enable-native-access=ALL-UNNAMED)");
            } catch (Throwable t) {
                rejected.add(target + ": " + t);
            } finally {
                if (lib == null) arena.close();
            }
        }
        if (!rejected.isEmpty()) return new Loaded(null, String.join("; ", new LinkedHashSet<>(rejected)));
        return new Loaded(null, "not found (looked for " + String.join(", ", names()) + " on the loader's search path and in "
                + String.join(", ", directories().stream().map(Path::toString).toList()) + "; -D" + PATH_PROPERTY + "=PATH names it)");
    }

    /** {major, minor, patch} from cublasGetProperty, or from cublasGetVersion_v2 (major*10000 + minor*100 + patch). */
    private static int[] version(SymbolLookup lookup) throws Throwable {
        Linker linker = Linker.nativeLinker();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            Optional<MemorySegment> prop = lookup.find("cublasGetProperty");
            if (prop.isPresent()) {
                MethodHandle h = linker.downcallHandle(prop.get(), FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
                int[] v = new int[3];
                int[] which = {MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL};
                for (int i = 0; i < 3; i++) {
                    int st = (int) h.invokeExact(which[i], out);
                    if (st != CUBLAS_STATUS_SUCCESS) throw new NotCublas("cublasGetProperty failed: " + statusNameOf(st) + " (" + st + ")");
                    v[i] = out.get(JAVA_INT, 0);
                }
                return v;
            }
            MemorySegment gv = lookup.find("cublasGetVersion_v2").orElseThrow(() -> new NotCublas("it has neither cublasGetProperty nor cublasGetVersion_v2"));
            MethodHandle h = linker.downcallHandle(gv, FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
            int st = (int) h.invokeExact(MemorySegment.NULL, out);
            if (st != CUBLAS_STATUS_SUCCESS) throw new NotCublas("cublasGetVersion_v2 failed: " + statusNameOf(st) + " (" + st + ")");
            int v = out.get(JAVA_INT, 0);
            return new int[] {v / 10000, v / 100 % 100, v % 100};
        }
    }

    static List<String> names() {
        return CudaDevice.Driver.isWindows() ? List.of("cublas64_13.dll", "cublas64_12.dll")
                : List.of("libcublas.so.13", "libcublas.so.12", "libcublas.so");
    }

    /** Where to look besides the loader's own search path. */
    static List<Path> directories() {
        Set<Path> dirs = new LinkedHashSet<>();
        if (CudaDevice.Driver.isWindows()) {
            String cudaPath = System.getenv("CUDA_PATH");
            if (cudaPath != null && !cudaPath.isBlank()) {
                dirs.add(Path.of(cudaPath, "bin", "x64"));   // CUDA 13 moved its DLLs here
                dirs.add(Path.of(cudaPath, "bin"));
            }
        } else {
            for (String env : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
                String v = System.getenv(env);
                if (v != null && !v.isBlank()) dirs.add(Path.of(v, "lib64"));
            }
            dirs.add(Path.of("/usr/local/cuda/lib64"));
            String ld = System.getenv("LD_LIBRARY_PATH");
            if (ld != null) for (String d : ld.split(":")) if (!d.isBlank()) dirs.add(Path.of(d));
            dirs.addAll(versionedCudaDirs());
        }
        return List.copyOf(dirs);
    }

    /** Names and paths to try, newest cuBLAS first; for each name, the loader's own search before the directories. */
    static List<String> candidates() {
        List<String> out = new ArrayList<>();
        for (String name : names()) {
            out.add(name);
            for (Path d : directories()) {
                Path f = d.resolve(name);
                if (Files.isRegularFile(f)) out.add(f.toAbsolutePath().normalize().toString());
            }
        }
        return out;
    }

    /** /usr/local/cuda-13.0/lib64, /usr/local/cuda-12.8/lib64, ... newest first. */
    private static List<Path> versionedCudaDirs() {
        List<Path> found = new ArrayList<>();
        Path root = Path.of("/usr/local");
        if (!Files.isDirectory(root)) return found;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root, "cuda-*")) {
            for (Path p : ds) if (Files.isDirectory(p.resolve("lib64"))) found.add(p.resolve("lib64"));
        } catch (IOException | RuntimeException e) {
            return found;
        }
        found.sort(Comparator.comparing((Path p) -> versionKey(p.getParent().getFileName().toString())).reversed());
        return found;
    }

    private static long versionKey(String dir) {   // "cuda-12.8" -> 12 * 1000 + 8
        String[] parts = dir.substring("cuda-".length()).split("\\.");
        long key = 0;
        for (int i = 0; i < 2; i++) {
            long v = 0;
            if (i < parts.length) {
                try {
                    v = Long.parseLong(parts[i]);
                } catch (NumberFormatException e) {
                    v = 0;
                }
            }
            key = key * 1000 + v;
        }
        return key;
    }

    /** Where the loader found a library loaded by name (Linux: from /proc/self/maps). */
    private static Optional<String> loadedPath(String name) {
        Path maps = Path.of("/proc/self/maps");
        if (!Files.isReadable(maps)) return Optional.empty();
        try (var lines = Files.lines(maps)) {
            return lines.map(l -> {
                        int slash = l.indexOf('/');
                        return slash < 0 ? null : l.substring(slash).strip();
                    })
                    .filter(p -> p != null && Path.of(p).getFileName().toString().startsWith(name))
                    .findFirst();
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }
}
