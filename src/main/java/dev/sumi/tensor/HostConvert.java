package dev.sumi.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Element conversions on the host, bit-exact with the kernels' (round to nearest even,
 * NaN stays NaN, overflow to infinity): Java floats in and out of F32/F16/BF16 memory.
 */
public final class HostConvert {
    private HostConvert() {}

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED;

    /** float -> bfloat16 bits, round to nearest even; NaN becomes a quiet NaN. */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 0x0040);
        int lsb = (bits >>> 16) & 1;
        bits += 0x7fff + lsb;
        return (short) (bits >>> 16);
    }

    public static float bf16ToFloat(short h) {
        return Float.intBitsToFloat((h & 0xffff) << 16);
    }

    public static short floatToF16(float f) {
        return Float.floatToFloat16(f);
    }

    public static float f16ToFloat(short h) {
        return Float.float16ToFloat(h);
    }

    /** The value {@code f} becomes when stored as {@code type} and read back. */
    public static float roundTo(DType type, float f) {
        return switch (type) {
            case F32 -> f;
            case F16 -> f16ToFloat(floatToF16(f));
            case BF16 -> bf16ToFloat(floatToBf16(f));
            case I32 -> (float) (int) f;
        };
    }

    public static void write(MemorySegment dst, DType type, float[] values) {
        for (int i = 0; i < values.length; i++) {
            long idx = i;
            switch (type) {
                case F32 -> dst.setAtIndex(F32, idx, values[i]);
                case F16 -> dst.setAtIndex(U16, idx, floatToF16(values[i]));
                case BF16 -> dst.setAtIndex(U16, idx, floatToBf16(values[i]));
                case I32 -> dst.setAtIndex(I32, idx, (int) values[i]);
            }
        }
    }

    public static float[] read(MemorySegment src, DType type, int count) {
        float[] out = new float[count];
        for (int i = 0; i < count; i++) {
            long idx = i;
            out[i] = switch (type) {
                case F32 -> src.getAtIndex(F32, idx);
                case F16 -> f16ToFloat(src.getAtIndex(U16, idx));
                case BF16 -> bf16ToFloat(src.getAtIndex(U16, idx));
                case I32 -> src.getAtIndex(I32, idx);
            };
        }
        return out;
    }
}
