package dev.sumi.bench;

import dev.sumi.device.Device;
import dev.sumi.device.GemmParams;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.Arrays;
import java.util.Locale;

/**
 * Times one plain GEMM, {@code C[m,n] = A[m,k] B[k,n]} (column-major, no transposes, alpha 1, beta 0),
 * on a device: {@code warmup} untimed calls, then {@code reps} timed ones, each between two
 * {@link Device#synchronize()} calls; reports the median. Used by {@code sumi doctor} and {@code sumi bench gemm}.
 *
 * <p>The operands are filled with the byte 0x3c (1.06 in F16, 0.0115 in BF16 and F32): normal numbers,
 * so no denormal slow path, and no Java-side arrays, so large sizes cost only device memory.
 */
public final class GemmBench {
    private GemmBench() {}

    /** {@code ms}: median time of one GEMM; {@code gflops}: the rate it implies (2mnk floating-point operations per GEMM). */
    public record Result(String device, DType inType, DType outType, int m, int n, int k, int reps,
                         double ms, double gflops, double minMs, double maxMs) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "gemm %s->%s %dx%dx%d on %s: %.3f ms, %.1f GFLOP/s (median of %d; min %.3f ms, max %.3f ms)",
                    inType, outType, m, n, k, device, ms, gflops, reps, minMs, maxMs);
        }
    }

    public static Result run(Device device, DType inType, DType outType, int m, int n, int k, int warmup, int reps) {
        if (m < 1 || n < 1 || k < 1) throw new IllegalArgumentException("gemm bench: sizes must be positive, got " + m + "x" + n + "x" + k);
        if (warmup < 0 || reps < 1) throw new IllegalArgumentException("gemm bench: need warmup >= 0 and reps >= 1, got " + warmup + ", " + reps);
        try (Tensor a = Tensor.allocate(device, inType, (long) k, m);     // column-major m x k: k columns of m
             Tensor b = Tensor.allocate(device, inType, (long) n, k);
             Tensor c = Tensor.allocate(device, outType, (long) n, m)) {
            device.memset(a.buffer(), (byte) 0x3c);
            device.memset(b.buffer(), (byte) 0x3c);
            device.memset(c.buffer(), (byte) 0);
            GemmParams p = GemmParams.of(false, false, m, n, k, 1.0f, a, m, b, k, 0.0f, c, m);
            p.validate();   // a bad type pair fails here, before any timing
            for (int i = 0; i < warmup; i++) device.gemm(p);
            device.synchronize();
            double[] ms = new double[reps];
            for (int i = 0; i < reps; i++) {
                device.synchronize();
                long t0 = System.nanoTime();
                device.gemm(p);
                device.synchronize();
                ms[i] = (System.nanoTime() - t0) / 1e6;
            }
            Arrays.sort(ms);
            double median = reps % 2 == 1 ? ms[reps / 2] : (ms[reps / 2 - 1] + ms[reps / 2]) / 2;
            double gflops = 2.0 * m * n * k / (median * 1e-3) / 1e9;
            return new Result(device.name(), inType, outType, m, n, k, reps, median, gflops, ms[0], ms[reps - 1]);
        }
    }
}
