package dev.sumi.model;

import dev.sumi.device.Device;
import dev.sumi.model.Checkpoint.Part;
import dev.sumi.model.Checkpoint.TensorRef;
import dev.sumi.nn.ParamSpec;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.StoredConvert;
import dev.sumi.tensor.safetensors.StoredType;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Moves checkpoint tensors onto a device in the dtype asked for, streaming: the mapped file is read
 * in chunks, each converted (round to nearest even) into a small staging buffer and copied to the
 * device, so loading a 2 GB checkpoint never holds more than one chunk in Java-visible memory.
 * diffusers layouts are undone on the way: OpenCLIP's q, k, v parts are written one after another
 * into the stacked tensor, and a transposed projection is transposed back.
 */
public final class WeightLoader {
    private WeightLoader() {}

    /** Elements converted per chunk: 4 Mi elements is 16 MiB of F32 staging. */
    static final int CHUNK_ELEMENTS = 1 << 22;

    public static Tensor load(Checkpoint checkpoint, String ldmKey, Device device, DType dtype) {
        TensorRef ref = checkpoint.tensors().get(ldmKey);
        if (ref == null) throw new ModelFormatException(checkpoint.path() + ": no tensor " + ldmKey);
        return load(ref, device, dtype, CHUNK_ELEMENTS);
    }

    /**
     * Loads every parameter of a layout ({@code prefix} + each spec's name) and hands the map, keyed by
     * layout name, to {@code build} (a network constructor, which takes ownership). If loading or
     * building fails, every tensor loaded so far is freed.
     */
    public static <T> T loadAll(Checkpoint checkpoint, String prefix, List<ParamSpec> specs, Device device, DType dtype,
                                Function<Map<String, Tensor>, T> build) {
        Map<String, Tensor> params = new LinkedHashMap<>();
        try {
            for (ParamSpec spec : specs) params.put(spec.name(), load(checkpoint, prefix + spec.name(), device, dtype));
            return build.apply(params);
        } catch (RuntimeException e) {
            params.values().forEach(Tensor::close);
            throw e;
        }
    }

    static Tensor load(TensorRef ref, Device device, DType dtype, int chunkElements) {
        if (!dtype.isFloatingPoint()) throw new IllegalArgumentException("weights load as F32, F16 or BF16, not " + dtype);
        StoredType target = StoredType.of(dtype);
        Tensor out = Tensor.allocate(device, dtype, ref.shape());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment staging = arena.allocate((long) chunkElements * dtype.byteSize, 64);
            long written = 0;   // elements of `out` filled so far
            for (Part part : ref.parts()) {
                StoredType source = part.entry().type();
                if (!source.isFloatingPoint()) {
                    throw new ModelFormatException(part.file().path() + ": tensor " + part.entry().name() + " is " + source + ", not a float type");
                }
                MemorySegment data = part.file().data(part.entry());
                long n = part.entry().numel();
                if (part.transform().kind() == KeyMap.Transform.Kind.TRANSPOSE) {
                    data = transposed(arena, data, source, part.entry().shape());
                }
                for (long done = 0; done < n; done += chunkElements) {
                    long count = Math.min(chunkElements, n - done);
                    MemorySegment src = data.asSlice(done * source.byteSize(), count * source.byteSize());
                    MemorySegment dst = staging.asSlice(0, count * dtype.byteSize);
                    StoredConvert.convert(src, source, dst, target);
                    device.copyToDevice(dst, out.buffer().slice((written + done) * dtype.byteSize, count * dtype.byteSize));
                }
                written += n;
            }
            if (written != out.numel()) {
                throw new ModelFormatException(ref.ldmKey() + ": its parts hold " + written + " elements, the tensor " + out.numel());
            }
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
        return out;
    }

    /** A [rows, cols] tensor as [cols, rows], same element type (only small projection matrices need this). */
    private static MemorySegment transposed(Arena arena, MemorySegment src, StoredType type, long[] shape) {
        if (shape.length != 2) throw new IllegalArgumentException("transpose of a rank-" + shape.length + " tensor");
        long rows = shape[0], cols = shape[1], size = type.byteSize();
        MemorySegment dst = arena.allocate(rows * cols * size, 64);
        for (long r = 0; r < rows; r++) {
            for (long c = 0; c < cols; c++) {
                MemorySegment.copy(src, (r * cols + c) * size, dst, (c * rows + r) * size, size);
            }
        }
        return dst;
    }
}
