package dev.sumi.device;

import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The FFM binding of cuBLAS, without a GPU: a stand-in library with cuBLAS's exported signatures
 * (compiled here with the C compiler) records every argument, so the 23-argument
 * cublasGemmStridedBatchedEx call, the handle set-up and the error naming are checked exactly.
 */
class CublasTest {

    /** Implements the few cuBLAS entry points sumi binds, with cuBLAS's C signatures. */
    private static final String FAKE_CUBLAS = """
            #include <stdint.h>
            static int the_handle;
            static long long args[32];
            static double alpha_seen, beta_seen;
            static void* stream_seen;
            static int math_seen = -1, destroyed, version_major = 13;
            int cublasCreate_v2(void** h) { *h = &the_handle; return 0; }
            int cublasDestroy_v2(void* h) { destroyed++; return h == &the_handle ? 0 : 7; }
            int cublasSetStream_v2(void* h, void* s) { stream_seen = s; return h == &the_handle ? 0 : 7; }
            int cublasSetMathMode(void* h, int mode) { math_seen = mode; return 0; }
            int cublasGetProperty(int type, int* v) { *v = type == 0 ? version_major : type == 1 ? 0 : 2; return 0; }
            const char* cublasGetStatusName(int s) { return s == 7 ? "CUBLAS_STATUS_INVALID_VALUE" : "CUBLAS_STATUS_UNKNOWN"; }
            int cublasGemmStridedBatchedEx(void* h, int ta, int tb, int m, int n, int k, const void* alpha,
                    const void* A, int at, int lda, long long sA, const void* B, int bt, int ldb, long long sB,
                    const void* beta, void* C, int ct, int ldc, long long sC, int batch, int compute, int algo) {
                long long v[] = {(long long)(intptr_t)h, ta, tb, m, n, k, (long long)(intptr_t)A, at, lda, sA,
                                 (long long)(intptr_t)B, bt, ldb, sB, (long long)(intptr_t)C, ct, ldc, sC, batch, compute, algo};
                for (int i = 0; i < 21; i++) args[i] = v[i];
                alpha_seen = *(const float*)alpha;
                beta_seen = *(const float*)beta;
                if (m == 7) return 7;    /* CUBLAS_STATUS_INVALID_VALUE, named by cublasGetStatusName */
                if (m == 13) return 13;  /* CUBLAS_STATUS_EXECUTION_FAILED, named from sumi's table */
                return 0;
            }
            long long fake_arg(int i) { return args[i]; }
            double fake_alpha(void) { return alpha_seen; }
            double fake_beta(void) { return beta_seen; }
            long long fake_stream(void) { return (long long)(intptr_t)stream_seen; }
            int fake_math(void) { return math_seen; }
            int fake_destroyed(void) { return destroyed; }
            long long fake_handle(void) { return (long long)(intptr_t)&the_handle; }
            """;

    @TempDir
    static Path dir;
    private static Path fake;   // .../libcublas.so.13, or null when no C compiler

    @BeforeAll
    static void buildFake() throws Exception {
        if (CudaDevice.Driver.isWindows()) return;
        Path src = dir.resolve("fake_cublas.c");
        Files.writeString(src, FAKE_CUBLAS);
        Path lib = dir.resolve("libcublas.so.13");
        for (String cc : new String[] {"cc", "gcc", "clang"}) {
            try {
                Process p = new ProcessBuilder(cc, "-shared", "-fPIC", "-O1", "-o", lib.toString(), src.toString())
                        .redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes());
                if (p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0) {
                    fake = lib;
                    return;
                }
                System.err.println(cc + " failed: " + out);
            } catch (IOException e) {
                // no such compiler: try the next
            }
        }
    }

    /** Runs {@code body} with -Dsumi.cublas pointing at {@code path}. */
    private static <T> T withCublas(String path, Supplier<T> body) {
        String old = System.getProperty(Cublas.PATH_PROPERTY);
        System.setProperty(Cublas.PATH_PROPERTY, path);
        try {
            return body.get();
        } finally {
            if (old == null) System.clearProperty(Cublas.PATH_PROPERTY);
            else System.setProperty(Cublas.PATH_PROPERTY, old);
        }
    }

    private static Path fake() {
        assumeTrue(fake != null, "no C compiler to build the stand-in cuBLAS");
        return fake;
    }

    @Test
    void aMissingForcedPathIsReportedNotThrown() {
        Cublas.Probe p = withCublas("/no/such/dir/libcublas.so.13", Cublas::probe);
        assertFalse(p.found());
        assertTrue(p.reason().contains("/no/such/dir/libcublas.so.13"), p.reason());
        assertFalse(p.reason().contains("\n"));
    }

    @Test
    void aLibraryThatIsNotCublasIsReported() {
        Path libjava = Path.of(System.getProperty("java.home"), "lib", "libjava.so");
        assumeTrue(Files.exists(libjava), "no " + libjava);
        Cublas.Probe p = withCublas(libjava.toString(), Cublas::probe);
        assertFalse(p.found());
        assertTrue(p.reason().contains("is not cuBLAS"), p.reason());
    }

    @Test
    void theSearchListsNewestFirst() {
        var names = Cublas.names();
        assertTrue(names.getFirst().contains("13"), names.toString());
        var c = Cublas.candidates();
        assertEquals(names.getFirst(), c.getFirst());
        assertTrue(c.indexOf(names.get(1)) > 0);
        String notFound = Cublas.probe(0).reason();
        if (!Cublas.probe(0).found()) assertTrue(notFound.contains(names.getFirst()), notFound);
    }

    @Test
    void probeFindsAForcedLibraryAndReadsItsVersion() {
        Path lib = fake();
        Cublas.Probe p = withCublas(lib.toString(), () -> Cublas.probe(13000));
        assertTrue(p.found(), p.reason());
        assertEquals("13.0.2", p.version());
        assertEquals(lib.toString(), p.path());
        assertEquals("cuBLAS 13.0.2 (" + lib + ")", p.describe());
    }

    @Test
    void aCublasNewerThanTheDriverIsPassedOver() {
        Path lib = fake();
        Cublas.Probe p = withCublas(lib.toString(), () -> Cublas.probe(12080));
        assertFalse(p.found());
        assertTrue(p.reason().contains("needs a CUDA 13 driver (this one is 12.8)"), p.reason());
        DeviceException e = assertThrows(DeviceException.class, () -> withCublas(lib.toString(), () -> Cublas.create(0, 12080)));
        assertTrue(e.getMessage().startsWith("cuBLAS is not available: "), e.getMessage());
    }

    @Test
    void handleAndGemmPassEveryArgumentInPlace() throws Throwable {
        Path lib = fake();
        Fake f = new Fake(lib);
        Device dev = new AddressOnlyDevice();
        long stream = 0xABCDEF00L;
        Cublas blas = withCublas(lib.toString(), () -> Cublas.create(stream, 13000));
        assertEquals(stream, f.longCall("fake_stream"));
        assertEquals(Cublas.MATH_MODE, f.intCall("fake_math"));
        assertEquals(16, Cublas.MATH_MODE, "CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION");
        assertTrue(blas.describe().startsWith("13.0.2 ("), blas.describe());

        // A^T (k x m stored, lda = k) times B (k x n, ldb = k + 3) into an F32 C, 2 batches
        int m = 5, n = 6, k = 4, batch = 2;
        try (Tensor a = Tensor.allocate(dev, DType.F16, 2 * 40); Tensor b = Tensor.allocate(dev, DType.F16, 2 * 42 + 10);
             Tensor c = Tensor.allocate(dev, DType.F32, 2 * 35 + 10)) {
            GemmParams p = new GemmParams(true, false, m, n, k, 0.5f, a, k, 40, b, k + 3, 47, -2.0f, c, m + 2, 35, batch);
            p.validate();
            blas.gemm(p, a.buffer().address(), b.buffer().address(), c.buffer().address());
            long[] want = {f.longCall("fake_handle"), Cublas.CUBLAS_OP_T, Cublas.CUBLAS_OP_N, m, n, k,
                    a.buffer().address(), 2 /* CUDA_R_16F */, k, 40,
                    b.buffer().address(), 2, k + 3, 47,
                    c.buffer().address(), 0 /* CUDA_R_32F */, m + 2, 35,
                    batch, 68 /* CUBLAS_COMPUTE_32F */, -1 /* CUBLAS_GEMM_DEFAULT */};
            for (int i = 0; i < want.length; i++) assertEquals(want[i], f.arg(i), "argument " + i);
            assertEquals(0.5, f.doubleCall("fake_alpha"));
            assertEquals(-2.0, f.doubleCall("fake_beta"));

            try (Tensor a16 = Tensor.allocate(dev, DType.BF16, 64); Tensor b16 = Tensor.allocate(dev, DType.BF16, 64)) {
                blas.gemm(GemmParams.of(false, true, 7, 8, 8, 1f, a16, 7, b16, 8, 0f, c, 7),
                        a16.buffer().address(), b16.buffer().address(), c.buffer().address());
                fail("the fake returns CUBLAS_STATUS_INVALID_VALUE for m = 7");
            } catch (DeviceException e) {
                assertTrue(e.getMessage().startsWith("cublasGemmStridedBatchedEx failed: CUBLAS_STATUS_INVALID_VALUE (7)"), e.getMessage());
                assertEquals(14, f.arg(7), "CUDA_R_16BF");
                assertEquals(Cublas.CUBLAS_OP_T, f.arg(2));
            }
            try (Tensor a13 = Tensor.allocate(dev, DType.F32, 13 * 13); Tensor c13 = Tensor.allocate(dev, DType.F32, 13 * 13)) {
                DeviceException e = assertThrows(DeviceException.class, () -> blas.gemm(
                        GemmParams.of(false, false, 13, 13, 13, 1f, a13, 13, a13, 13, 0f, c13, 13),
                        a13.buffer().address(), a13.buffer().address(), c13.buffer().address()));
                assertTrue(e.getMessage().startsWith("cublasGemmStridedBatchedEx failed: CUBLAS_STATUS_EXECUTION_FAILED (13)"), e.getMessage());
            }
        }
        int destroyed = f.intCall("fake_destroyed");
        blas.close();
        blas.close();
        assertEquals(destroyed + 1, f.intCall("fake_destroyed"), "close() destroys the handle once");
        assertThrows(IllegalStateException.class, () -> blas.gemm(null, 0, 0, 0));
    }

    @Test
    void statusNamesFallBackToTheTable() {
        assertEquals("CUBLAS_STATUS_NOT_SUPPORTED", Cublas.statusNameOf(15));
        assertEquals("cublasStatus_t", Cublas.statusNameOf(12345));
        assertEquals(0, Cublas.dataType(DType.F32));
        assertEquals(2, Cublas.dataType(DType.F16));
        assertEquals(14, Cublas.dataType(DType.BF16));
        assertThrows(IllegalArgumentException.class, () -> Cublas.dataType(DType.I32));
    }

    /** Reads back what the stand-in library recorded (dlopen of the same path shares its globals). */
    private static final class Fake {
        private final SymbolLookup lookup;
        private final Linker linker = Linker.nativeLinker();

        Fake(Path lib) {
            lookup = SymbolLookup.libraryLookup(lib, Arena.global());
        }

        private MethodHandle h(String name, FunctionDescriptor fd) {
            return linker.downcallHandle(lookup.findOrThrow(name), fd);
        }

        long arg(int i) throws Throwable {
            return (long) h("fake_arg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT)).invokeExact(i);
        }

        long longCall(String name) throws Throwable {
            return (long) h(name, FunctionDescriptor.of(JAVA_LONG)).invokeExact();
        }

        int intCall(String name) throws Throwable {
            return (int) h(name, FunctionDescriptor.of(JAVA_INT)).invokeExact();
        }

        double doubleCall(String name) throws Throwable {
            return (double) h(name, FunctionDescriptor.of(JAVA_DOUBLE)).invokeExact();
        }
    }

    /** A device that hands out distinct fake addresses and does nothing else: enough to build GemmParams. */
    private static final class AddressOnlyDevice implements Device {
        private final AtomicLong next = new AtomicLong(0x7000_0000_0000L);

        public String name() {
            return "fake";
        }

        public Kind kind() {
            return Kind.CUDA;
        }

        public DeviceBuffer allocate(long bytes) {
            return DeviceBuffer.owning(this, next.getAndAdd((bytes + 255) / 256 * 256 + 256), bytes, null);
        }

        public void free(DeviceBuffer buffer) {
            buffer.markFreed();
        }

        public void copyToDevice(MemorySegment src, DeviceBuffer dst) {
            throw new UnsupportedOperationException();
        }

        public void copyToHost(DeviceBuffer src, MemorySegment dst) {
            throw new UnsupportedOperationException();
        }

        public void copy(DeviceBuffer src, DeviceBuffer dst) {
            throw new UnsupportedOperationException();
        }

        public void memset(DeviceBuffer dst, byte value) {
            throw new UnsupportedOperationException();
        }

        public Kernel kernel(String name) {
            throw new UnsupportedOperationException();
        }

        public void launch(Kernel kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
            throw new UnsupportedOperationException();
        }

        public void gemm(GemmParams params) {
            throw new UnsupportedOperationException();
        }

        public void synchronize() {}

        public MemoryInfo memoryInfo() {
            return new MemoryInfo(0, 0);
        }

        public void close() {}
    }
}
