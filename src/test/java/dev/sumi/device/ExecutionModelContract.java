package dev.sumi.device;

import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every device must do the way a CUDA GPU does: built-in indices in 3D, warp shuffles, barriers
 * with dynamic shared memory, atomics, and clear errors for launches a GPU would reject.
 */
public abstract class ExecutionModelContract {

    protected abstract Device device();

    @Test
    void indicesIn3D() {
        Dim3 grid = new Dim3(3, 2, 2), block = new Dim3(4, 3, 2);
        int threads = (int) (grid.count() * block.count());
        try (Tensor out = Tensor.allocate(device(), DType.I32, threads, 6)) {
            device().launch("selftest_indices", grid, block, 0, out);
            int[] o = out.toInts();
            int i = 0;
            for (int bz = 0; bz < 2; bz++) for (int by = 0; by < 2; by++) for (int bx = 0; bx < 3; bx++)
                for (int tz = 0; tz < 2; tz++) for (int ty = 0; ty < 3; ty++) for (int tx = 0; tx < 4; tx++, i++) {
                    int[] row = java.util.Arrays.copyOfRange(o, 6 * i, 6 * i + 6);
                    assertArrayEquals(new int[] {bx, by, bz, tx, ty, tz}, row, "thread " + i);
                }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {32, 64, 256})
    void warpShuffles(int blockThreads) {
        int blocks = 2;
        try (Tensor out = Tensor.allocate(device(), DType.I32, (long) blocks * blockThreads, 8)) {
            device().launch("selftest_shuffles", Dim3.of(blocks), Dim3.of(blockThreads), 0, out);
            int[] o = out.toInts();
            for (int t = 0; t < blocks * blockThreads; t++) {
                int l = t % 32;
                int[] expected = {
                        l ^ 1, l ^ 16,
                        l + 3 < 32 ? l + 3 : l,        // shfl_down keeps its own value past the warp end
                        l >= 5 ? l - 5 : l,             // shfl_up likewise below lane 0
                        7,
                        l ^ 4,                          // width 8: segments of 8 lanes
                        0xAAAAAAAA,                     // ballot of odd lanes
                        31 * 32 / 2};
                assertArrayEquals(expected, java.util.Arrays.copyOfRange(o, 8 * t, 8 * t + 8), "thread " + t);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 31, 256, 1000})
    void barriersWithDynamicSharedMemory(int n) {
        int block = 128;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = i;
        try (Tensor in = Tensor.fromFloats(device(), DType.F32, x, n); Tensor out = Tensor.allocate(device(), DType.F32, n)) {
            for (String kernel : new String[] {"selftest_reverse_blocks", "selftest_reverse_blocks_static"}) {
                device().memset(out.buffer(), (byte) 0);
                int shared = kernel.endsWith("static") ? 0 : block * 4;
                device().launch(kernel, Dim3.of((n + block - 1) / block), Dim3.of(block), shared, out, in, (long) n);
                float[] o = out.toFloats();
                for (int i = 0; i < n; i++) {
                    int base = i / block * block, count = Math.min(block, n - base);
                    assertEquals(base + count - 1 - (i - base), o[i], kernel + " element " + i);
                }
            }
        }
    }

    @Test
    void atomicsFromManyBlocks() {
        long n = 100_003;
        try (Tensor counter = Tensor.allocate(device(), DType.I32, 1); Tensor sum = Tensor.allocate(device(), DType.F32, 1)) {
            device().memset(counter.buffer(), (byte) 0);
            device().memset(sum.buffer(), (byte) 0);
            device().launch("selftest_atomics", Dim3.of((int) ((n + 255) / 256)), Dim3.of(256), 0, counter, sum, n);
            assertEquals(n, counter.toInts()[0]);
            assertEquals((float) n, sum.toFloats()[0]);  // every partial sum is an integer below 2^24: exact
        }
    }

    @Test
    void unknownKernelIsNamed() {
        Device d = device();
        DeviceException e = assertThrows(DeviceException.class, () -> d.kernel("no_such_kernel"));
        assertTrue(e.getMessage().contains("no_such_kernel"), e.getMessage());
    }

    @Test
    void wrongArgumentsAreNamed() {
        try (Tensor t = Tensor.allocate(device(), DType.F32, 4)) {
            DeviceException count = assertThrows(DeviceException.class, () -> device().launch("fill_f32", Dim3.of(1), Dim3.of(32), 0, t, 1.0f));
            assertTrue(count.getMessage().contains("fill_f32") && count.getMessage().contains("3 arguments"), count.getMessage());
            DeviceException type = assertThrows(DeviceException.class, () -> device().launch("fill_f32", Dim3.of(1), Dim3.of(32), 0, 1.0f, t, 4L));
            assertTrue(type.getMessage().contains("argument 0"), type.getMessage());
        }
    }

    @Test
    void launchLimitsAreAGpu() {
        try (Tensor t = Tensor.allocate(device(), DType.F32, 4)) {
            assertThrows(DeviceException.class, () -> device().launch("fill_f32", Dim3.of(1), Dim3.of(2048), 0, t, 1.0f, 4L));
            assertThrows(DeviceException.class, () -> device().launch("fill_f32", new Dim3(1, 70000, 1), Dim3.of(32), 0, t, 1.0f, 4L));
            DeviceException shared = assertThrows(DeviceException.class,
                    () -> device().launch("fill_f32", Dim3.of(1), Dim3.of(32), 1 << 20, t, 1.0f, 4L));
            assertTrue(shared.getMessage().contains("shared memory"), shared.getMessage());
        }
    }

    @Test
    void outOfMemorySaysWhatWasAskedAndWhatIsFree() {
        long total = device().memoryInfo().total();
        OutOfDeviceMemoryException e = assertThrows(OutOfDeviceMemoryException.class, () -> device().allocate(total + (1L << 30)));
        assertTrue(e.getMessage().contains("asked") && e.getMessage().contains("free"), e.getMessage());
    }

    @Test
    void copiesRoundTrip() {
        float[] x = {1, 2, 3, 4, 5};
        try (Tensor a = Tensor.fromFloats(device(), DType.F32, x, 5); Tensor b = Tensor.allocate(device(), DType.F32, 5)) {
            device().copy(a.buffer(), b.buffer());
            assertArrayEquals(x, b.toFloats());
            Tensor tail = b.view(2, 3);
            assertArrayEquals(new float[] {3, 4, 5}, tail.toFloats());
            device().memset(tail.buffer(), (byte) 0);
            assertArrayEquals(new float[] {1, 2, 0, 0, 0}, b.toFloats());
        }
    }
}
