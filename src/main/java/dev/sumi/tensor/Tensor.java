package dev.sumi.tensor;

import dev.sumi.device.Device;
import dev.sumi.device.DeviceBuffer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A contiguous row-major array of {@code dtype} elements on a device. A tensor made by
 * {@link #allocate} owns its buffer; {@link #view} and {@link #reshape} share it.
 */
public final class Tensor implements AutoCloseable {
    private final DeviceBuffer buffer;   // exactly numel * dtype.byteSize bytes
    private final DType dtype;
    private final Shape shape;

    private Tensor(DeviceBuffer buffer, DType dtype, Shape shape) {
        this.buffer = buffer;
        this.dtype = dtype;
        this.shape = shape;
    }

    public static Tensor allocate(Device device, DType dtype, long... dims) {
        Shape shape = Shape.of(dims);
        long bytes = Math.multiplyExact(shape.numel(), (long) dtype.byteSize);
        return new Tensor(device.allocate(bytes), dtype, shape);
    }

    /** Wraps {@code buffer} (which must be exactly the tensor's size) without copying. */
    public static Tensor wrap(DeviceBuffer buffer, DType dtype, long... dims) {
        Shape shape = Shape.of(dims);
        long bytes = Math.multiplyExact(shape.numel(), (long) dtype.byteSize);
        if (bytes != buffer.bytes()) {
            throw new IllegalArgumentException("a " + dtype + " tensor of shape " + shape + " needs " + bytes + " bytes, the buffer has " + buffer.bytes());
        }
        return new Tensor(buffer, dtype, shape);
    }

    /** Uploads {@code values}, rounded to {@code dtype}, into a new tensor. */
    public static Tensor fromFloats(Device device, DType dtype, float[] values, long... dims) {
        Tensor t = allocate(device, dtype, dims);
        if (t.numel() != values.length) {
            t.close();
            throw new IllegalArgumentException(values.length + " values for shape " + Shape.of(dims));
        }
        t.copyFrom(values);
        return t;
    }

    public void copyFrom(float[] values) {
        if (values.length != numel()) throw new IllegalArgumentException(values.length + " values for a tensor of " + numel());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(bytes(), 16);
            HostConvert.write(host, dtype, values);
            buffer.device().copyToDevice(host, buffer);
        }
    }

    public static Tensor fromInts(Device device, int[] values, long... dims) {
        Tensor t = allocate(device, DType.I32, dims);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocateFrom(ValueLayout.JAVA_INT, values);
            device.copyToDevice(host, t.buffer);
        }
        return t;
    }

    /** Downloads the elements, widened to float. */
    public float[] toFloats() {
        int n = Math.toIntExact(numel());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(Math.max(1, bytes()), 16);
            buffer.device().copyToHost(buffer, host.asSlice(0, bytes()));
            return HostConvert.read(host, dtype, n);
        }
    }

    public int[] toInts() {
        if (dtype != DType.I32) throw new IllegalStateException("toInts on a " + dtype + " tensor");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocate(Math.max(1, bytes()), 16);
            buffer.device().copyToHost(buffer, host.asSlice(0, bytes()));
            return host.asSlice(0, bytes()).toArray(ValueLayout.JAVA_INT);
        }
    }

    /** Elements [offset, offset + numel(dims)) as a tensor of shape {@code dims}, sharing memory. */
    public Tensor view(long elementOffset, long... dims) {
        Shape s = Shape.of(dims);
        long bytes = Math.multiplyExact(s.numel(), (long) dtype.byteSize);
        return new Tensor(buffer.slice(Math.multiplyExact(elementOffset, (long) dtype.byteSize), bytes), dtype, s);
    }

    public Tensor reshape(long... dims) {
        Shape s = Shape.of(dims);
        if (s.numel() != numel()) throw new IllegalArgumentException("cannot reshape " + shape + " to " + s);
        return new Tensor(buffer.slice(0, buffer.bytes()), dtype, s);
    }

    public DeviceBuffer buffer() {
        return buffer;
    }

    public Device device() {
        return buffer.device();
    }

    public DType dtype() {
        return dtype;
    }

    public Shape shape() {
        return shape;
    }

    public long numel() {
        return shape.numel();
    }

    public long bytes() {
        return buffer.bytes();
    }

    @Override
    public void close() {
        buffer.close();
    }

    @Override
    public String toString() {
        return "Tensor[" + dtype + " " + shape + " on " + buffer.device().name() + "]";
    }
}
