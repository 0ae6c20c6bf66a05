package dev.sumi.device;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Which GPUs the bundled fatbin runs on, decided as the driver decides (no GPU needed). */
class CudaProbeTest {

    /** What scripts/build-kernels builds by default. */
    private static final List<String> BUILT = CudaProbe.parseTargets("sm_75 sm_80 sm_86 sm_89 sm_90 sm_100 sm_120 compute_120\n");

    @Test
    void parsesTheTargetsFile() {
        assertEquals(List.of("sm_75", "sm_80", "sm_86", "sm_89", "sm_90", "sm_100", "sm_120", "compute_120"), BUILT);
        assertEquals(List.of("sm_90a", "compute_90"), CudaProbe.parseTargets("# built by nvcc 13.0\nsm_90a, compute_90 bogus sm_\n"));
        assertEquals(List.of(), CudaProbe.parseTargets(""));
    }

    @Test
    void exactSassWins() {
        for (String sm : List.of("75", "80", "86", "89", "90", "100", "120")) {
            int cc = Integer.parseInt(sm);
            CudaProbe.Coverage c = CudaProbe.coverage(BUILT, cc / 10, cc % 10);
            assertEquals(new CudaProbe.Coverage(true, "SASS sm_" + sm), c);
        }
    }

    @Test
    void sassRunsOnLaterMinorsOfTheSameMajor() {
        assertEquals(new CudaProbe.Coverage(true, "SASS sm_86 (binary-compatible with sm_87)"), CudaProbe.coverage(BUILT, 8, 7));
        assertEquals(new CudaProbe.Coverage(true, "SASS sm_100 (binary-compatible with sm_103)"), CudaProbe.coverage(BUILT, 10, 3));
        assertTrue(CudaProbe.coverage(BUILT, 12, 1).how().startsWith("SASS sm_120"));
    }

    @Test
    void ptxCoversNewerMajorsOnly() {
        CudaProbe.Coverage future = CudaProbe.coverage(BUILT, 13, 0);
        assertTrue(future.covered());
        assertTrue(future.how().startsWith("PTX compute_120 (JIT"), future.how());
        // 11.0 has no SASS of its major and the PTX is for 12.0: nothing runs there
        CudaProbe.Coverage thor = CudaProbe.coverage(BUILT, 11, 0);
        assertFalse(thor.covered());
        assertTrue(thor.how().startsWith("no SASS for sm_110"), thor.how());
        // older than the oldest target
        assertFalse(CudaProbe.coverage(BUILT, 7, 0).covered());
        assertFalse(CudaProbe.coverage(BUILT, 6, 1).covered());
    }

    @Test
    void archSpecificTargetsCountOnlyOnTheirOwnGpu() {
        List<String> t = List.of("sm_90a", "compute_90a");
        assertTrue(CudaProbe.coverage(t, 9, 0).covered());
        assertFalse(CudaProbe.coverage(t, 10, 0).covered());
    }

    @Test
    void notBuiltSaysSo() {
        CudaProbe.Coverage c = CudaProbe.coverage(null, 9, 0);
        assertFalse(c.covered());
        assertEquals("the CUDA kernels were not built (no nvcc at build time)", c.how());
    }

    @Test
    void reportLinesForAMachineWithAGpu() {
        var gpu = new CudaProbe.Gpu(0, "NVIDIA H100 80GB HBM3", 9, 0, 132, 85_000_000_000L, 84_000_000_000L,
                CudaProbe.coverage(BUILT, 9, 0), null);
        var blas = new Cublas.Probe(true, "/usr/local/cuda/lib64/libcublas.so.13", "13.0.2", null);
        var r = new CudaProbe.CudaReport("13.0", null, List.of(gpu), blas, BUILT);
        assertTrue(r.usable());
        List<String> lines = r.lines();
        assertTrue(lines.contains("GPU 0: NVIDIA H100 80GB HBM3, compute capability 9.0, 132 SMs, 79.2 GiB total, 78.2 GiB free"), lines.toString());
        assertTrue(lines.contains("  kernels: SASS sm_90"), lines.toString());
        assertTrue(lines.contains("cuBLAS: 13.0.2 (/usr/local/cuda/lib64/libcublas.so.13)"), lines.toString());
        assertEquals("CUDA device: usable (cuda:0)", lines.getLast());

        var noBlas = new CudaProbe.CudaReport("13.0", null, List.of(gpu), new Cublas.Probe(false, null, null, "not found (...)"), BUILT);
        assertEquals("cuBLAS not found (...)", noBlas.unusableReason());
        var unbuilt = new CudaProbe.CudaReport("13.0", null,
                List.of(new CudaProbe.Gpu(0, "X", 9, 0, 1, 1, 1, CudaProbe.coverage(null, 9, 0), null)), blas, null);
        assertFalse(unbuilt.usable());
        assertTrue(unbuilt.lines().contains("CUDA kernels: not built (no nvcc at build time)"));
    }
}
