package dev.sumi.device;

import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host GEMM (native/host_gemm.cpp) through HostDevice. Only the micro-kernel path this CPU picks
 * runs here; SUMI_HOST_GEMM_ISA=scalar|avx2 in the environment of the test JVM covers the lower ones.
 */
class HostGemmTest extends GemmContract {
    @Override
    protected Device device() {
        return Devices.host();
    }

    @Test
    void reportsItsMicroKernel() {
        String isa = Devices.host().gemmIsa();
        System.out.println("host gemm micro-kernel: " + isa + ", " + Devices.host().threads() + " threads");
        assertTrue(Set.of("avx512f", "avx2+fma", "scalar").contains(isa), isa);
        // the pom reruns this class with a lower path forced: make sure it really is lower
        String forced = System.getenv("SUMI_HOST_GEMM_ISA");
        if ("scalar".equals(forced)) assertTrue(isa.equals("scalar"), isa);
        if ("avx2".equals(forced)) assertTrue(!isa.equals("avx512f"), isa);
    }

    /** As in reference BLAS, alpha == 0 means A and B are not read: NaN there must not reach C. */
    @Test
    void alphaZeroReadsNeitherAnorB() {
        float[] nan = new float[64];
        Arrays.fill(nan, Float.NaN);
        float[] init = new float[64];
        Arrays.fill(init, 2.0f);
        try (Tensor a = Tensor.fromFloats(device(), DType.F32, nan, 64); Tensor b = Tensor.fromFloats(device(), DType.F32, nan, 64);
             Tensor c = Tensor.fromFloats(device(), DType.F32, init, 64)) {
            device().gemm(GemmParams.of(false, false, 8, 8, 8, 0.0f, a, 8, b, 8, 0.5f, c, 8));
            float[] expected = new float[64];
            Arrays.fill(expected, 1.0f);
            assertArrayEquals(expected, c.toFloats());
        }
    }

    /** Each calling thread has its own packing buffers; the worker pool takes one GEMM at a time. */
    @Test
    void callsFromSeveralJavaThreadsAtOnce() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> results = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                DType[] t = TYPE_PAIRS[i % TYPE_PAIRS.length];
                Case c = Case.of(i % 2 == 0, i % 3 == 0, 90 + i, 70, 80 + 13 * i, t[0], t[1]).scaled(1, i % 2).batched(1 + i % 3, 2);
                results.add(pool.submit(() -> check(c)));
            }
            for (Future<?> f : results) f.get();
        } finally {
            pool.shutdown();
        }
    }
}
