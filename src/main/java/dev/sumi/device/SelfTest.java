package dev.sumi.device;

import dev.sumi.ops.BasicOps;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.HostConvert;
import dev.sumi.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * A quick proof that a device runs real kernels correctly: each check launches kernels of
 * cuda-kernels/ or a GEMM on small inputs and compares with values computed here in Java.
 * {@code sumi doctor} prints the result for the host and for every GPU.
 */
public final class SelfTest {
    private SelfTest() {}

    public record Check(String name, boolean passed, String detail) {}

    public static List<Check> run(Device d) {
        List<Check> checks = new ArrayList<>();
        checks.add(check("fill + cast f32->bf16->f32", () -> {
            try (Tensor a = Tensor.allocate(d, DType.F32, 1000); Tensor b = Tensor.allocate(d, DType.BF16, 1000);
                 Tensor c = Tensor.allocate(d, DType.F32, 1000)) {
                BasicOps.fill(a, 1.0f / 3);
                BasicOps.cast(b, a);
                BasicOps.cast(c, b);
                float want = HostConvert.roundTo(DType.BF16, 1.0f / 3);
                for (float v : c.toFloats()) if (v != want) return "got " + v + ", want " + want;
                return null;
            }
        }));
        checks.add(check("softmax rows (barriers, shuffles)", () -> {
            float[] x = new float[3 * 333];
            for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(i);
            try (Tensor in = Tensor.fromFloats(d, DType.F32, x, 3, 333); Tensor out = Tensor.allocate(d, DType.F32, 3, 333)) {
                BasicOps.softmaxRows(out, in);
                float[] y = out.toFloats();
                for (int r = 0; r < 3; r++) {
                    double s = 0;
                    for (int c = 0; c < 333; c++) s += y[r * 333 + c];
                    if (Math.abs(s - 1) > 1e-5) return "row " + r + " sums to " + s;
                }
                return null;
            }
        }));
        checks.add(check("reductions (atomics across blocks)", () -> {
            int n = 100_000;
            try (Tensor t = Tensor.allocate(d, DType.F32, n)) {
                BasicOps.fill(t, 0.5f);
                float sum = BasicOps.reduce(t, BasicOps.Reduction.SUM);
                float max = BasicOps.reduce(t, BasicOps.Reduction.MAX_ABS);
                if (sum != n * 0.5f || max != 0.5f) return "sum " + sum + " max " + max;
                return null;
            }
        }));
        checks.add(check("warp shuffles", () -> {
            try (Tensor out = Tensor.allocate(d, DType.I32, 64, 8)) {
                d.launch("selftest_shuffles", Dim3.of(1), Dim3.of(64), 0, out);
                int[] o = out.toInts();
                for (int t = 0; t < 64; t++) {
                    int l = t % 32;
                    if (o[8 * t] != (l ^ 1) || o[8 * t + 2] != (l + 3 < 32 ? l + 3 : l) || o[8 * t + 7] != 496) return "lane " + t + " wrong";
                }
                return null;
            }
        }));
        checks.add(check("gemm 67x45x33 f32", () -> {
            int m = 67, n = 45, k = 33;
            float[] a = new float[m * k], b = new float[k * n];
            for (int i = 0; i < a.length; i++) a[i] = (i % 7) - 3;
            for (int i = 0; i < b.length; i++) b[i] = (i % 5) - 2;
            try (Tensor ta = Tensor.fromFloats(d, DType.F32, a, a.length); Tensor tb = Tensor.fromFloats(d, DType.F32, b, b.length);
                 Tensor tc = Tensor.allocate(d, DType.F32, (long) m * n)) {
                d.gemm(GemmParams.of(false, false, m, n, k, 1f, ta, m, tb, k, 0f, tc, m));
                float[] c = tc.toFloats();
                for (int j = 0; j < n; j++) for (int i = 0; i < m; i++) {
                    float want = 0;
                    for (int p = 0; p < k; p++) want += a[p * m + i] * b[j * k + p];  // small integers: exact
                    if (c[j * m + i] != want) return "C[" + i + "," + j + "] = " + c[j * m + i] + ", want " + want;
                }
                return null;
            }
        }));
        return checks;
    }

    /** A check passes when {@code body} returns null; otherwise its string or exception says why not. */
    private static Check check(String name, Supplier<String> body) {
        try {
            String problem = body.get();
            return new Check(name, problem == null, problem == null ? "ok" : problem);
        } catch (RuntimeException | Error e) {
            return new Check(name, false, e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }
}
