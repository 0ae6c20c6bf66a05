package dev.sumi.ops;

import dev.sumi.tensor.DType;
import dev.sumi.tensor.Shape;
import dev.sumi.tensor.Tensor;

/** Argument checks shared by the op families; every message names the op and the offending tensor. */
final class Check {
    private Check() {}

    /** All tensors float, of first's dtype, on first's device. */
    static void sameFloatType(String op, Tensor first, Tensor... rest) {
        if (!first.dtype().isFloatingPoint()) throw new IllegalArgumentException(op + ": " + first.dtype() + " is not a floating-point type");
        for (Tensor t : rest) {
            if (t.dtype() != first.dtype()) throw new IllegalArgumentException(op + ": mixed dtypes " + first.dtype() + " and " + t.dtype());
            sameDevice(op, first, t);
        }
    }

    static void sameDevice(String op, Tensor a, Tensor b) {
        if (a.device() != b.device()) throw new IllegalArgumentException(op + ": tensors on different devices");
    }

    static void shape(String op, String name, Tensor t, long... dims) {
        if (!t.shape().equals(Shape.of(dims))) throw new IllegalArgumentException(op + ": " + name + " is " + t.shape() + ", expected " + Shape.of(dims));
    }

    static void numel(String op, String name, Tensor t, long n) {
        if (t.numel() != n) throw new IllegalArgumentException(op + ": " + name + " has " + t.numel() + " elements, expected " + n);
    }

    static void type(String op, String name, Tensor t, DType type) {
        if (t.dtype() != type) throw new IllegalArgumentException(op + ": " + name + " is " + t.dtype() + ", expected " + type);
    }

    static int toInt(String op, String what, long v) {
        if (v > Integer.MAX_VALUE) throw new IllegalArgumentException(op + ": " + what + " = " + v + " is too large");
        return (int) v;
    }
}
