package dev.sumi.device;

import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * CudaDevice on this machine. Untagged tests check what happens without a GPU (and hold with one);
 * {@code @Tag("gpu")} tests need one and are skipped elsewhere, but scripts/gpu-check fails if any is skipped there.
 */
class CudaDeviceTest {

    private static CudaDevice gpu;   // opened once for the gpu tier; null without a GPU

    @BeforeAll
    static void openIfPresent() {
        if (CudaDevice.isAvailable()) gpu = CudaDevice.open(0);
    }

    @AfterAll
    static void closeGpu() {
        if (gpu != null) gpu.close();
    }

    private static CudaDevice gpu() {
        assumeTrue(gpu != null, () -> "no CUDA device: " + CudaDevice.unavailableReason());
        return gpu;
    }

    // ------------------------------------------------------------ without a GPU

    @Test
    void availabilityNeverThrowsAndAgreesWithTheReason() {
        boolean available = assertDoesNotThrow(CudaDevice::isAvailable);
        String why = assertDoesNotThrow(CudaDevice::unavailableReason);
        assertEquals(available, why == null, "isAvailable() and unavailableReason() disagree: " + why);
        assertEquals(available, CudaDevice.isAvailable(), "a second probe gives another answer");
    }

    @Test
    void openWithoutGpuFailsWithOneLineReason() {
        assumeFalse(CudaDevice.isAvailable(), "this machine has a GPU");
        DeviceException e = assertThrows(DeviceException.class, () -> CudaDevice.open(0));
        String m = e.getMessage();
        assertNotNull(m);
        assertFalse(m.isBlank());
        assertFalse(m.contains("\n"), "not one line: " + m);
        assertEquals(CudaDevice.unavailableReason(), m);
        assertTrue(m.startsWith("no CUDA driver (") || m.startsWith("no GPU") || m.contains("failed: CUDA_ERROR_"),
                "unexpected reason: " + m);
        // twice: the failed driver load must not poison later calls with another error
        assertEquals(m, assertThrows(DeviceException.class, () -> CudaDevice.open(0)).getMessage());
    }

    @Test
    void openRejectsAnOrdinalOutOfRange() {
        DeviceException e = assertThrows(DeviceException.class, () -> CudaDevice.open(-1));
        assertFalse(e.getMessage().contains("\n"));
        if (CudaDevice.isAvailable()) {
            assertTrue(e.getMessage().startsWith("no CUDA device -1"), e.getMessage());
            assertThrows(DeviceException.class, () -> CudaDevice.open(1 << 20));
        }
    }

    @Test
    void cublasProbeSaysWhereOrWhyNot() {
        Cublas.Probe p = assertDoesNotThrow(() -> Cublas.probe());
        if (p.found()) {
            assertNotNull(p.path());
            assertTrue(p.version().matches("\\d+\\.\\d+\\.\\d+"), p.version());
            assertNull(p.reason());
        } else {
            assertNull(p.path());
            assertNotNull(p.reason());
            assertFalse(p.reason().isBlank());
            assertFalse(p.reason().contains("\n"), p.reason());
        }
        assertFalse(p.describe().isBlank());
    }

    @Test
    void cudaProbeReportsWithoutThrowing() {
        CudaProbe.CudaReport r = assertDoesNotThrow(CudaProbe::probe);
        assertEquals(r.usable(), r.unusableReason() == null);
        assertEquals(r.cublas().found(), Cublas.probe().found());
        var lines = r.lines();
        assertTrue(lines.getFirst().startsWith("CUDA driver: "), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("cuBLAS: ")), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("CUDA kernels: ")), lines.toString());
        assertTrue(lines.getLast().startsWith("CUDA device: "), lines.toString());
        lines.forEach(l -> assertFalse(l.contains("\n"), l));
        if (!CudaDevice.isAvailable()) {
            assertNotNull(r.driverProblem());
            assertEquals(CudaDevice.unavailableReason(), r.driverProblem());
            assertTrue(r.gpus().isEmpty());
            assertFalse(r.usable());
            assertEquals("CUDA device: not usable: " + r.driverProblem(), lines.getLast());
        } else {
            assertFalse(r.gpus().isEmpty());
            assertTrue(r.gpus().getFirst().totalBytes() > 0);
        }
    }

    @Test
    void fatbinTargetsMatchTheBuild() {
        var targets = CudaProbe.bundledTargets();
        boolean built = CudaDevice.class.getResource(CudaDevice.FATBIN) != null;
        if (!built) {
            assertNull(targets);
            return;
        }
        assertNotNull(targets, CudaDevice.FATBIN + " without " + CudaDevice.FATBIN_TARGETS);
        assertFalse(targets.isEmpty());
        assertTrue(targets.stream().anyMatch(t -> t.startsWith("compute_")), "no PTX for GPUs newer than the build: " + targets);
    }

    // ------------------------------------------------------------ with a GPU

    @Test
    @Tag("gpu")
    void namesItselfAndReportsMemory() {
        CudaDevice d = gpu();
        assertTrue(d.name().startsWith("cuda:0 "), d.name());
        assertEquals(Device.Kind.CUDA, d.kind());
        MemoryInfo m = d.memoryInfo();
        assertTrue(m.total() > 0 && m.free() > 0 && m.free() <= m.total(), m.toString());
        assertTrue(CudaProbe.probe().usable(), () -> String.join("\n", CudaProbe.probe().lines()));
    }

    @Test
    @Tag("gpu")
    void copyRoundTripIncludingSlicesAndHeapSegments() {
        CudaDevice d = gpu();
        int n = 10_001;
        float[] values = new float[n];
        Random rnd = new Random(1);
        for (int i = 0; i < n; i++) values[i] = rnd.nextFloat() * 2 - 1;
        try (DeviceBuffer buf = d.allocate(4L * n); Arena arena = Arena.ofConfined()) {
            assertEquals(0, buf.address() % 256, "cuMemAlloc is 256-byte aligned");
            MemorySegment host = arena.allocateFrom(ValueLayout.JAVA_FLOAT, values);
            d.copyToDevice(host, buf);
            MemorySegment back = arena.allocate(4L * n);
            d.copyToHost(buf, back);
            assertArrayEquals(values, back.toArray(ValueLayout.JAVA_FLOAT));

            // a slice in the middle, written from a heap segment and read into one
            float[] patch = {7, 8, 9};
            DeviceBuffer slice = buf.slice(4L * 100, 4L * 3);
            d.copyToDevice(MemorySegment.ofArray(patch), slice);
            float[] readPatch = new float[3];
            d.copyToHost(slice, MemorySegment.ofArray(readPatch));
            assertArrayEquals(patch, readPatch);
            d.copyToHost(buf, back);
            float[] all = back.toArray(ValueLayout.JAVA_FLOAT);
            assertEquals(values[99], all[99]);
            assertEquals(7f, all[100]);
            assertEquals(9f, all[102]);
            assertEquals(values[103], all[103]);
        }
    }

    @Test
    @Tag("gpu")
    void sizeMismatchesAreRejected() {
        CudaDevice d = gpu();
        try (DeviceBuffer buf = d.allocate(64); Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, () -> d.copyToDevice(arena.allocate(65), buf));
            assertThrows(IllegalArgumentException.class, () -> d.copyToHost(buf, arena.allocate(63)));
            try (DeviceBuffer other = d.allocate(32)) {
                assertThrows(IllegalArgumentException.class, () -> d.copy(buf, other));
            }
        }
    }

    @Test
    @Tag("gpu")
    void memsetSetsEveryByteOfItsRangeOnly() {
        CudaDevice d = gpu();
        try (DeviceBuffer buf = d.allocate(1000); Arena arena = Arena.ofConfined()) {
            d.memset(buf, (byte) 0x3F);
            d.memset(buf.slice(10, 5), (byte) 0xA5);
            MemorySegment back = arena.allocate(1000);
            d.copyToHost(buf, back);
            byte[] b = back.toArray(ValueLayout.JAVA_BYTE);
            for (int i = 0; i < b.length; i++) assertEquals(i >= 10 && i < 15 ? (byte) 0xA5 : (byte) 0x3F, b[i], "byte " + i);
        }
    }

    @Test
    @Tag("gpu")
    void deviceToDeviceCopy() {
        CudaDevice d = gpu();
        int n = 4097;
        int[] values = new int[n];
        for (int i = 0; i < n; i++) values[i] = i * 31 - 5;
        try (Tensor a = Tensor.fromInts(d, values, n); Tensor b = Tensor.allocate(d, DType.I32, n)) {
            d.memset(b.buffer(), (byte) 0);
            d.copy(a.buffer(), b.buffer());
            assertArrayEquals(values, b.toInts());
            // slice to slice: b[0..10) = a[100..110)
            d.copy(a.buffer().slice(400, 40), b.buffer().slice(0, 40));
            int[] got = b.toInts();
            for (int i = 0; i < 10; i++) assertEquals(values[100 + i], got[i]);
            assertEquals(values[10], got[10]);
        }
    }

    @Test
    @Tag("gpu")
    void askingForMoreThanTheGpuHasSaysHowMuchIsFree() {
        CudaDevice d = gpu();
        long total = d.memoryInfo().total();
        OutOfDeviceMemoryException e = assertThrows(OutOfDeviceMemoryException.class, () -> d.allocate(total + (1L << 30)));
        assertTrue(e.getMessage().startsWith("cuMemAlloc on cuda:0"), e.getMessage());
        assertTrue(e.getMessage().contains("out of memory"), e.getMessage());
        assertTrue(e.getMessage().contains("free of"), e.getMessage());
        assertEquals(total + (1L << 30), e.requested);
        assertTrue(e.free > 0 && e.free <= total);
        // the device still works afterwards
        try (DeviceBuffer ok = d.allocate(1024)) {
            d.memset(ok, (byte) 1);
            d.synchronize();
        }
    }

    @Test
    @Tag("gpu")
    void freeIsIdempotentAndUseAfterFreeIsCaught() {
        CudaDevice d = gpu();
        DeviceBuffer buf = d.allocate(256);
        d.free(buf);
        d.free(buf);
        buf.close();
        assertTrue(buf.isFreed());
        assertThrows(IllegalStateException.class, () -> d.memset(buf, (byte) 0));
        try (DeviceBuffer parent = d.allocate(256)) {
            assertThrows(IllegalArgumentException.class, () -> d.free(parent.slice(0, 16)));
        }
        DeviceBuffer empty = d.allocate(0);
        assertEquals(0, empty.bytes());
        d.memset(empty, (byte) 0);
        empty.close();
    }

    @Test
    @Tag("gpu")
    void unknownKernelIsNamed() {
        CudaDevice d = gpu();
        DeviceException e = assertThrows(DeviceException.class, () -> d.kernel("no_such_kernel_xyz"));
        assertTrue(e.getMessage().contains("no_such_kernel_xyz"), e.getMessage());
    }

    @Test
    @Tag("gpu")
    void wrongArgumentsAreRejectedBeforeTheLaunch() {
        CudaDevice d = gpu();
        Kernel fill = d.kernel("fill_f32");
        assertSame(fill, d.kernel("fill_f32"));
        try (Tensor t = Tensor.allocate(d, DType.F32, 16)) {
            DeviceException e = assertThrows(DeviceException.class, () -> d.launch(fill, Dim3.of(1), Dim3.of(32), 0, t, 1.0f));
            assertTrue(e.getMessage().contains("takes 3 arguments"), e.getMessage());
            e = assertThrows(DeviceException.class, () -> d.launch(fill, Dim3.of(1), Dim3.of(32), 0, t, "x", 16L));
            assertTrue(e.getMessage().contains("argument 1"), e.getMessage());
            e = assertThrows(DeviceException.class, () -> d.launch(fill, Dim3.of(1), Dim3.of(2048), 0, t, 1.0f, 16L));
            assertTrue(e.getMessage().contains("exceeds"), e.getMessage());
        }
    }

    @Test
    @Tag("gpu")
    void fillF32WritesExactlyNElementsForAnyLaunchShape() {
        CudaDevice d = gpu();
        int n = 100_003;
        int[][] shapes = {{1, 1}, {1, 32}, {3, 128}, {1000, 256}, {4096, 1024}};
        try (Tensor t = Tensor.allocate(d, DType.F32, n + 5)) {
            for (int[] s : shapes) {
                d.memset(t.buffer(), (byte) 0);
                float v = s[0] + s[1] / 1000f;
                d.launch("fill_f32", Dim3.of(s[0]), Dim3.of(s[1]), 0, t, v, (long) n);
                float[] got = t.toFloats();
                for (int i = 0; i < n; i++) if (got[i] != v) fail("grid " + s[0] + " block " + s[1] + ": element " + i + " is " + got[i]);
                for (int i = n; i < n + 5; i++) assertEquals(0f, got[i], "element " + i + " past n was written");
            }
            // a view: the kernel sees the view's address
            Tensor view = t.view(10, 20);
            d.memset(t.buffer(), (byte) 0);
            d.launch("fill_f32", Dim3.of(1), Dim3.of(64), 0, view, 3f, 20L);
            float[] got = t.toFloats();
            assertEquals(0f, got[9]);
            assertEquals(3f, got[10]);
            assertEquals(3f, got[29]);
            assertEquals(0f, got[30]);
        }
    }

    @Test
    @Tag("gpu")
    void anyThreadCanUseTheDevice() throws Exception {
        CudaDevice d = gpu();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicReference<float[]> result = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try (Tensor x = Tensor.fromFloats(d, DType.F32, new float[] {1, 2, 3}, 3)) {
                d.launch("fill_f32", Dim3.of(1), Dim3.of(32), 0, x, 5f, 2L);
                result.set(x.toFloats());
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        t.start();
        t.join();
        if (failure.get() != null) throw new AssertionError(failure.get());
        assertArrayEquals(new float[] {5, 5, 3}, result.get());
    }

    private static float[] abs(float[] x) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) y[i] = Math.abs(x[i]);
        return y;
    }

    /** Column-major reference: C = alpha op(A) op(B) + beta C, in double. */
    private static float[] gemmRef(boolean ta, boolean tb, int m, int n, int k, float alpha, float[] a, int lda,
                                   float[] b, int ldb, float beta, float[] c, int ldc) {
        float[] out = c.clone();
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < m; i++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    double av = ta ? a[p + i * lda] : a[i + p * lda];
                    double bv = tb ? b[j + p * ldb] : b[p + j * ldb];
                    s += av * bv;
                }
                out[i + j * ldc] = (float) (alpha * s + (beta == 0 ? 0 : beta * c[i + j * ldc]));
            }
        }
        return out;
    }

    @Test
    @Tag("gpu")
    void gemmF32MatchesTheReferenceInEveryTransposeAndBatched() {
        CudaDevice d = gpu();
        Random rnd = new Random(7);
        int m = 37, n = 29, k = 53, batch = 3;
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                int lda = ta ? k : m, ldb = tb ? n : k, ldc = m;
                int sa = lda * (ta ? m : k), sb = ldb * (tb ? k : n), sc = ldc * n;
                float[] a = new float[sa * batch], b = new float[sb * batch], c = new float[sc * batch];
                for (int i = 0; i < a.length; i++) a[i] = rnd.nextFloat() - 0.5f;
                for (int i = 0; i < b.length; i++) b[i] = rnd.nextFloat() - 0.5f;
                for (int i = 0; i < c.length; i++) c[i] = rnd.nextFloat() - 0.5f;
                try (Tensor ta_ = Tensor.fromFloats(d, DType.F32, a, a.length);
                     Tensor tb_ = Tensor.fromFloats(d, DType.F32, b, b.length);
                     Tensor tc_ = Tensor.fromFloats(d, DType.F32, c, c.length)) {
                    d.gemm(new GemmParams(ta, tb, m, n, k, 0.75f, ta_, lda, sa, tb_, ldb, sb, 0.5f, tc_, ldc, sc, batch));
                    float[] got = tc_.toFloats();
                    for (int bi = 0; bi < batch; bi++) {
                        float[] ab = Arrays.copyOfRange(a, bi * sa, (bi + 1) * sa);
                        float[] bb = Arrays.copyOfRange(b, bi * sb, (bi + 1) * sb);
                        float[] cb = Arrays.copyOfRange(c, bi * sc, (bi + 1) * sc);
                        float[] want = gemmRef(ta, tb, m, n, k, 0.75f, ab, lda, bb, ldb, 0.5f, cb, ldc);
                        // Budget: the F32 summation bound (k + 2) * eps * (|alpha| sum |a||b| + |beta c|).
                        // TF32 inputs (10-bit mantissa) would exceed it about 100-fold.
                        float[] mag = gemmRef(ta, tb, m, n, k, 0.75f, abs(ab), lda, abs(bb), ldb, 0.5f, abs(cb), ldc);
                        for (int i = 0; i < sc; i++) {
                            double tol = (k + 2) * DType.F32.epsilon() * mag[i];
                            assertEquals(want[i], got[bi * sc + i], tol, "transA=" + ta + " transB=" + tb + " batch " + bi + " element " + i);
                        }
                    }
                }
            }
        }
    }

    @Test
    @Tag("gpu")
    void gemmF16InputsWithF32Output() {
        CudaDevice d = gpu();
        int m = 16, n = 8, k = 32;
        Random rnd = new Random(3);
        float[] a = new float[m * k], b = new float[k * n];
        for (int i = 0; i < a.length; i++) a[i] = (rnd.nextInt(17) - 8) / 8f;   // exact in F16
        for (int i = 0; i < b.length; i++) b[i] = (rnd.nextInt(17) - 8) / 8f;
        for (DType in : new DType[] {DType.F16, DType.BF16}) {
            try (Tensor ta = Tensor.fromFloats(d, in, a, m * k); Tensor tb = Tensor.fromFloats(d, in, b, k * n);
                 Tensor tc = Tensor.allocate(d, DType.F32, m * n)) {
                d.gemm(GemmParams.of(false, false, m, n, k, 1f, ta, m, tb, k, 0f, tc, m));
                float[] want = gemmRef(false, false, m, n, k, 1f, a, m, b, k, 0f, new float[m * n], m);
                assertArrayEquals(want, tc.toFloats(), 1e-6f, in + " inputs: products of multiples of 1/8 sum exactly in F32");
            }
        }
    }

    @Test
    @Tag("gpu")
    void aClosedDeviceRefusesWork() {
        assumeTrue(CudaDevice.isAvailable(), () -> "no CUDA device: " + CudaDevice.unavailableReason());
        CudaDevice d = CudaDevice.open(0);
        DeviceBuffer leaked = d.allocate(1024);
        d.close();
        d.close();
        assertTrue(leaked.isFreed(), "close() frees what is still allocated");
        assertThrows(IllegalStateException.class, () -> d.allocate(16));
        assertThrows(IllegalStateException.class, d::synchronize);
        // the shared primary context survives for the device opened in @BeforeAll
        if (gpu != null) {
            try (DeviceBuffer b = gpu.allocate(16)) {
                gpu.memset(b, (byte) 0);
                gpu.synchronize();
            }
        }
    }
}
