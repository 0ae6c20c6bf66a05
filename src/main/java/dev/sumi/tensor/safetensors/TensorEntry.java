package dev.sumi.tensor.safetensors;

import java.util.Arrays;

/**
 * One tensor of a safetensors header: its element type, its shape (outermost first, {@code []} for a scalar) and its
 * byte range {@code [begin, end)} relative to the start of the data area, as the file states them.
 * The shape is copied in and out, so an entry never changes.
 */
public record TensorEntry(String name, StoredType type, long[] shape, long begin, long end) {

    public TensorEntry {
        if (name == null || name.isEmpty()) throw new IllegalArgumentException("empty tensor name");
        if (type == null) throw new IllegalArgumentException("tensor " + Messages.quote(name) + ": no type");
        shape = shape.clone();
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("tensor " + Messages.quote(name) + ": negative dimension in shape " + Arrays.toString(shape));
        }
        if (begin < 0 || end < begin) {
            throw new IllegalArgumentException("tensor " + Messages.quote(name) + ": bad range [" + begin + ", " + end + "]");
        }
        long needed = Math.multiplyExact(numel(shape), (long) type.byteSize());
        if (end - begin != needed) {
            throw new IllegalArgumentException("tensor " + Messages.quote(name) + ": range [" + begin + ", " + end + "] holds "
                    + (end - begin) + " bytes, " + type + " " + Arrays.toString(shape) + " needs " + needed);
        }
    }

    /** Product of the dimensions (1 for a scalar); throws {@link ArithmeticException} on overflow. */
    public static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long numel() {
        return numel(shape);
    }

    public long byteSize() {
        return end - begin;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorEntry e && name.equals(e.name) && type == e.type && Arrays.equals(shape, e.shape)
                && begin == e.begin && end == e.end;
    }

    @Override
    public int hashCode() {
        return (name.hashCode() * 31 + type.hashCode()) * 31 + Arrays.hashCode(shape) + Long.hashCode(begin) * 17;
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(shape) + " @[" + begin + ", " + end + ")";
    }
}
