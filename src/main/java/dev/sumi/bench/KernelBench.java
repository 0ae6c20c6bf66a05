package dev.sumi.bench;

import dev.sumi.device.Device;
import dev.sumi.ops.BasicOps;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Memory throughput of the first op family: bytes each kernel must move divided by the median time
 * of a launch. On the host this measures the CPU target (plain-loop kernels and fiber-scheduled
 * cooperative ones alike); on a GPU, the real kernels.
 */
public final class KernelBench {
    private KernelBench() {}

    public record Result(String op, DType type, long elements, double ms, double gbPerSecond) {}

    public static List<Result> run(Device d, DType t, long n, int reps) {
        List<Result> results = new ArrayList<>();
        try (Tensor a = Tensor.allocate(d, t, n); Tensor b = Tensor.allocate(d, t, n); Tensor c = Tensor.allocate(d, t, n);
             Tensor f32 = Tensor.allocate(d, DType.F32, n); Tensor scalar = Tensor.allocate(d, DType.F32, 1)) {
            BasicOps.fill(a, 0.25f);
            BasicOps.fill(b, 0.5f);
            long e = t.byteSize;
            results.add(time(d, "fill", t, n, n * e, reps, () -> BasicOps.fill(c, 1f)));
            results.add(time(d, "cast to f32", t, n, n * (e + 4), reps, () -> BasicOps.cast(f32, a)));
            results.add(time(d, "add", t, n, 3 * n * e, reps, () -> BasicOps.add(c, a, b)));
            results.add(time(d, "axpy", t, n, 3 * n * e, reps, () -> BasicOps.axpy(c, a, 0.5f)));
            long cols = 4096, rows = n / cols;
            Tensor in2 = a.view(0, rows, cols), out2 = c.view(0, rows, cols);
            results.add(time(d, "softmax rows x4096", t, rows * cols, 3 * rows * cols * e, reps, () -> BasicOps.softmaxRows(out2, in2)));
            results.add(time(d, "reduce sum", t, n, n * e, reps, () -> BasicOps.reduce(scalar, a, BasicOps.Reduction.SUM)));
        }
        return results;
    }

    private static Result time(Device d, String op, DType t, long n, long bytes, int reps, Runnable body) {
        body.run();
        d.synchronize();
        double[] ms = new double[reps];
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            body.run();
            d.synchronize();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        double median = ms[reps / 2];
        return new Result(op, t, n, median, bytes / (median * 1e-3) / 1e9);
    }
}
