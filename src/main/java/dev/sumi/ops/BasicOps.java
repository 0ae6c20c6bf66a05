package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.device.Dim3;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

/**
 * The first op family: fill, cast, add, scale, axpy, row softmax and whole-tensor reductions, each a
 * launch of the kernel of the same name in cuda-kernels/ for the tensors' dtype.
 */
public final class BasicOps {
    private BasicOps() {}

    /** out[i] = value, rounded to out's dtype. */
    public static void fill(Tensor out, float value) {
        floatType(out, "fill");
        launchFlat(out.device(), "fill_" + out.dtype().kernelSuffix(), out.numel(), out, value, out.numel());
    }

    /** out[i] = in[i] converted to out's dtype (round to nearest even). */
    public static void cast(Tensor out, Tensor in) {
        floatType(out, "cast");
        floatType(in, "cast");
        sameSize(out, in, "cast");
        String k = "cast_" + in.dtype().kernelSuffix() + "_" + out.dtype().kernelSuffix();
        launchFlat(out.device(), k, out.numel(), out, in, out.numel());
    }

    /** out[i] = a[i] + b[i]. */
    public static void add(Tensor out, Tensor a, Tensor b) {
        sameTypeAndSize("add", out, a, b);
        launchFlat(out.device(), "add_" + out.dtype().kernelSuffix(), out.numel(), out, a, b, out.numel());
    }

    /** out[i] = alpha * in[i]; out may be in. */
    public static void scale(Tensor out, Tensor in, float alpha) {
        sameTypeAndSize("scale", out, in);
        launchFlat(out.device(), "scale_" + out.dtype().kernelSuffix(), out.numel(), out, in, alpha, out.numel());
    }

    /** y[i] += alpha * x[i]. */
    public static void axpy(Tensor y, Tensor x, float alpha) {
        sameTypeAndSize("axpy", y, x);
        launchFlat(y.device(), "axpy_" + y.dtype().kernelSuffix(), y.numel(), y, x, alpha, y.numel());
    }

    /** Softmax over the last dimension: in and out are (rows, cols) with rows = numel / cols. */
    public static void softmaxRows(Tensor out, Tensor in) {
        sameTypeAndSize("softmaxRows", out, in);
        if (in.shape().rank() < 1 || in.numel() == 0) return;
        long cols = in.shape().dim(-1);
        long rows = in.numel() / cols;
        if (rows > Integer.MAX_VALUE || cols > Integer.MAX_VALUE) throw new IllegalArgumentException("softmaxRows: " + rows + " x " + cols + " is too large");
        out.device().launch("softmax_rows_" + in.dtype().kernelSuffix(), Dim3.of((int) rows), Launch.rowBlock(out.device(), cols), 0,
                out, in, (int) rows, (int) cols);
    }

    public enum Reduction { SUM, MAX_ABS, SUM_SQUARES }

    /** out (one F32 element) = the reduction of every element of in. */
    public static void reduce(Tensor out, Tensor in, Reduction r) {
        floatType(in, "reduce");
        if (out.dtype() != DType.F32 || out.numel() != 1) throw new IllegalArgumentException("reduce: out must be one F32 element, not " + out);
        String k = switch (r) {
            case SUM -> "reduce_sum_";
            case MAX_ABS -> "reduce_max_abs_";
            case SUM_SQUARES -> "reduce_sum_squares_";
        } + in.dtype().kernelSuffix();
        out.device().memset(out.buffer(), (byte) 0);
        if (in.numel() == 0) return;
        out.device().launch(k, Launch.reduceGrid(in.numel()), Dim3.of(Launch.BLOCK), 0, out, in, in.numel());
    }

    /** The reduction as a Java float (allocates a scratch element; not for inner loops). */
    public static float reduce(Tensor in, Reduction r) {
        try (Tensor out = Tensor.allocate(in.device(), DType.F32, 1)) {
            reduce(out, in, r);
            return out.toFloats()[0];
        }
    }

    private static void launchFlat(Device device, String kernel, long n, Object... args) {
        if (n == 0) return;
        device.launch(kernel, Launch.flatGrid(n), Dim3.of(Launch.BLOCK), 0, args);
    }

    private static void floatType(Tensor t, String op) {
        if (!t.dtype().isFloatingPoint()) throw new IllegalArgumentException(op + ": " + t.dtype() + " is not a floating-point type");
    }

    private static void sameSize(Tensor a, Tensor b, String op) {
        if (a.numel() != b.numel()) throw new IllegalArgumentException(op + ": " + a.shape() + " and " + b.shape() + " differ in size");
    }

    private static void sameTypeAndSize(String op, Tensor first, Tensor... rest) {
        floatType(first, op);
        for (Tensor t : rest) {
            if (t.dtype() != first.dtype()) throw new IllegalArgumentException(op + ": mixed dtypes " + first.dtype() + " and " + t.dtype());
            sameSize(first, t, op);
        }
    }
}
