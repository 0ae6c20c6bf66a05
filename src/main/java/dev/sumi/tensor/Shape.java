package dev.sumi.tensor;

import java.util.Arrays;

/** Dimensions of a contiguous row-major tensor, outermost first. Element counts never overflow silently. */
public record Shape(long[] dims) {

    public Shape {
        dims = dims.clone();
        for (long d : dims) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(dims));
        }
    }

    public static Shape of(long... dims) {
        return new Shape(dims);
    }

    public int rank() {
        return dims.length;
    }

    public long dim(int i) {
        return dims[i < 0 ? dims.length + i : i];
    }

    public long numel() {
        long n = 1;
        for (long d : dims) n = Math.multiplyExact(n, d);
        return n;
    }

    @Override
    public long[] dims() {
        return dims.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Shape s && Arrays.equals(dims, s.dims);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(dims);
    }

    @Override
    public String toString() {
        return Arrays.toString(dims);
    }
}
