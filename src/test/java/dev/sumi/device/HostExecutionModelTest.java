package dev.sumi.device;

import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HostExecutionModelTest extends ExecutionModelContract {
    @Override
    protected Device device() {
        return Devices.host();
    }

    @Test
    void divergentBarrierIsReportedNotHung() {
        try (Tensor t = Tensor.allocate(device(), DType.I32, 64)) {
            DeviceException e = assertThrows(DeviceException.class,
                    () -> device().launch("selftest_divergent_barrier", Dim3.of(1), Dim3.of(64), 0, t));
            assertTrue(e.getMessage().contains("selftest_divergent_barrier") && e.getMessage().contains("divergent barrier"), e.getMessage());
        }
        // the device is still usable afterwards
        try (Tensor t = Tensor.allocate(device(), DType.F32, 8)) {
            device().launch("fill_f32", Dim3.of(1), Dim3.of(32), 0, t, 2.0f, 8L);
            assertEquals(2.0f, t.toFloats()[7]);
        }
    }

    @Test
    void manifestMarksCooperativeKernels() {
        KernelManifest m = KernelManifest.bundled();
        assertTrue(m.get("softmax_rows_f32").cooperative());
        assertTrue(m.get("reduce_sum_f16").cooperative());
        assertTrue(m.get("selftest_reverse_blocks").cooperative());
        assertFalse(m.get("fill_f32").cooperative());
        assertFalse(m.get("cast_f32_bf16").cooperative());
    }

    @Test
    void launchesFromSeveralJavaThreadsAtOnce() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Float>> results = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                final float value = i;
                results.add(pool.submit(() -> {
                    try (Tensor t = Tensor.allocate(device(), DType.F32, 10_000)) {
                        for (int rep = 0; rep < 20; rep++) {
                            dev.sumi.ops.BasicOps.fill(t, value);
                            System.gc();
                        }
                        return dev.sumi.ops.BasicOps.reduce(t, dev.sumi.ops.BasicOps.Reduction.SUM);
                    }
                }));
            }
            for (int i = 0; i < 8; i++) assertEquals(10_000f * i, results.get(i).get());
        } finally {
            pool.shutdown();
        }
    }

    @Test
    void freedBuffersAreRefused() {
        Tensor t = Tensor.allocate(device(), DType.F32, 4);
        t.close();
        t.close();  // twice is fine
        assertThrows(IllegalStateException.class, () -> t.toFloats());
    }

    @Test
    void memoryIsAccounted() {
        long before = device().memoryInfo().free();
        try (Tensor t = Tensor.allocate(device(), DType.F32, 1 << 20)) {
            assertEquals(before - (4L << 20), device().memoryInfo().free());
        }
        assertEquals(before, device().memoryInfo().free());
    }
}
