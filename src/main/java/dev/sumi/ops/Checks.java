package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

/** Argument checks shared by the op families; every message names the op and the argument. */
final class Checks {
    private Checks() {}

    static void floatType(String op, String name, Tensor t) {
        if (!t.dtype().isFloatingPoint()) throw new IllegalArgumentException(op + ": " + name + " is " + t.dtype() + ", not a floating-point type");
    }

    /** t has exactly the shape dims (rank and extents). */
    static void shape(String op, String name, Tensor t, long... dims) {
        long[] d = t.shape().dims();
        if (!java.util.Arrays.equals(d, dims)) {
            throw new IllegalArgumentException(op + ": " + name + " has shape " + t.shape() + ", expected " + java.util.Arrays.toString(dims));
        }
    }

    static void dtype(String op, String name, Tensor t, DType want) {
        if (t.dtype() != want) throw new IllegalArgumentException(op + ": " + name + " is " + t.dtype() + ", expected " + want);
    }

    /** A parameter gradient: the activations' dtype, or F32. */
    static void gradType(String op, String name, Tensor t, DType activations) {
        if (t.dtype() != activations && t.dtype() != DType.F32) {
            throw new IllegalArgumentException(op + ": " + name + " is " + t.dtype() + ", expected " + activations + " or F32");
        }
    }

    static void sameDevice(String op, Tensor first, Tensor... rest) {
        Device d = first.device();
        for (Tensor t : rest) {
            if (t != null && t.device() != d) throw new IllegalArgumentException(op + ": tensors on " + d.name() + " and " + t.device().name());
        }
    }

    /** The row count of a (rows, features) view of t: numel / features, with features t's last dimension. */
    static int rows(String op, String name, Tensor t, long features) {
        if (t.shape().rank() < 1 || t.shape().dim(-1) != features) {
            throw new IllegalArgumentException(op + ": " + name + " " + t.shape() + " must end in " + features);
        }
        return Math.toIntExact(t.numel() / features);
    }

    /** All tensors float, of first's dtype, on first's device. */
    static void sameFloatType(String op, Tensor first, Tensor... rest) {
        if (!first.dtype().isFloatingPoint()) throw new IllegalArgumentException(op + ": " + first.dtype() + " is not a floating-point type");
        for (Tensor t : rest) {
            if (t.dtype() != first.dtype()) throw new IllegalArgumentException(op + ": mixed dtypes " + first.dtype() + " and " + t.dtype());
        }
        sameDevice(op, first, rest);
    }

    static void numel(String op, String name, Tensor t, long n) {
        if (t.numel() != n) throw new IllegalArgumentException(op + ": " + name + " has " + t.numel() + " elements, expected " + n);
    }

    static int toInt(String op, String what, long v) {
        if (v > Integer.MAX_VALUE) throw new IllegalArgumentException(op + ": " + what + " = " + v + " is too large");
        return (int) v;
    }
}
