package dev.sumi.tensor.safetensors;

import dev.sumi.tensor.HostConvert;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Element conversions between safetensors storage (little-endian, any alignment) and Java floats, and from one
 * floating-point storage type to another, segment to segment, so a multi-GB tensor converts in slices.
 * <p>
 * Every narrowing rounds once, to nearest, ties to even. Overflow gives infinity, except in F8_E4M3 (no
 * infinity), where it gives NaN as PyTorch's {@code float8_e4m3fn} does; NaN stays NaN (payloads are not kept
 * in F8). F16 and BF16 match {@link HostConvert} (and therefore the kernels) bit for bit.
 */
public final class StoredConvert {
    private StoredConvert() {}

    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfByte I8 = ValueLayout.JAVA_BYTE;

    // ---- F8 ------------------------------------------------------------------------------------------------

    /** Every F8 bit pattern decoded, indexed by the unsigned byte. */
    private static final float[] E4M3_VALUES = new float[256];
    private static final float[] E5M2_VALUES = new float[256];

    static {
        for (int b = 0; b < 256; b++) {
            // E4M3FN: sign, 4 exponent bits (bias 7), 3 mantissa bits; S.1111.111 is NaN, no infinities
            int e = (b >>> 3) & 0xf;
            int m = b & 0x7;
            float v = e == 0xf && m == 0x7 ? Float.NaN
                    : e == 0 ? Math.scalb((float) m, -9)            // subnormal: m/8 * 2^-6
                    : Math.scalb(1f + m / 8f, e - 7);
            E4M3_VALUES[b] = (b & 0x80) != 0 ? -v : v;
            // E5M2: exactly the top byte of an IEEE half
            E5M2_VALUES[b] = Float.float16ToFloat((short) (b << 8));
        }
    }

    public static float e4m3ToFloat(byte b) {
        return E4M3_VALUES[b & 0xff];
    }

    public static float e5m2ToFloat(byte b) {
        return E5M2_VALUES[b & 0xff];
    }

    public static byte floatToE4m3(double v) {
        return (byte) encodeMinifloat(v, 4, 3, true);
    }

    public static byte floatToE5m2(double v) {
        return (byte) encodeMinifloat(v, 5, 2, false);
    }

    /**
     * {@code v} rounded (nearest, ties to even) into a binary float format with {@code expBits} exponent bits
     * (IEEE bias) and {@code manBits} stored mantissa bits; returns the bit pattern, sign bit at
     * {@code expBits + manBits}. With {@code finiteOnly} (the "FN" formats) the top exponent holds normal numbers,
     * the all-ones pattern is NaN and overflow gives NaN; otherwise the top exponent is infinity/NaN as in IEEE.
     * Works in double, where every input value and every intermediate step here is exact.
     */
    static int encodeMinifloat(double v, int expBits, int manBits, boolean finiteOnly) {
        int sign = (Double.doubleToRawLongBits(v) < 0 ? 1 : 0) << (expBits + manBits);
        int expAllOnes = (1 << expBits) - 1;
        int nan = finiteOnly ? (expAllOnes << manBits) | ((1 << manBits) - 1) : (expAllOnes << manBits) | (1 << (manBits - 1));
        int inf = finiteOnly ? nan : expAllOnes << manBits;
        if (Double.isNaN(v)) return sign | nan;
        double a = Math.abs(v);
        if (Double.isInfinite(a)) return sign | inf;
        if (a == 0) return sign;
        int bias = (1 << (expBits - 1)) - 1;
        int minExp = 1 - bias;
        int maxExp = (finiteOnly ? expAllOnes : expAllOnes - 1) - bias;
        // largest finite: all-ones mantissa, except in FN formats where that pattern at the top exponent is NaN
        double maxFinite = Math.scalb(2.0 - Math.scalb(1.0, finiteOnly ? 1 - manBits : -manBits), maxExp);
        int exp = a < Math.scalb(1.0, minExp) ? minExp : Math.getExponent(a);
        double quantum = Math.scalb(1.0, exp - manBits);
        double r = Math.rint(a / quantum) * quantum;   // rint: ties to even
        if (r > maxFinite) return sign | inf;
        if (r == 0) return sign;
        if (r < Math.scalb(1.0, minExp)) return sign | (int) (r / Math.scalb(1.0, minExp - manBits));   // subnormal
        int e = Math.getExponent(r);
        int mantissa = (int) ((r / Math.scalb(1.0, e) - 1.0) * (1 << manBits));
        return sign | ((e + bias) << manBits) | mantissa;
    }

    // ---- one element ---------------------------------------------------------------------------------------

    /** Element {@code i} of {@code src} as a double: exact for every type but I64/U64 beyond 2^53. */
    public static double getDouble(MemorySegment src, StoredType type, long i) {
        return switch (type) {
            case F64 -> src.getAtIndex(F64, i);
            case F32 -> src.getAtIndex(F32, i);
            case F16 -> Float.float16ToFloat(src.getAtIndex(I16, i));
            case BF16 -> HostConvert.bf16ToFloat(src.getAtIndex(I16, i));
            case F8_E4M3 -> e4m3ToFloat(src.getAtIndex(I8, i));
            case F8_E5M2 -> e5m2ToFloat(src.getAtIndex(I8, i));
            case I64 -> src.getAtIndex(I64, i);
            case I32 -> src.getAtIndex(I32, i);
            case I16 -> src.getAtIndex(I16, i);
            case I8 -> src.getAtIndex(I8, i);
            case U64 -> unsignedToDouble(src.getAtIndex(I64, i));
            case U32 -> Integer.toUnsignedLong(src.getAtIndex(I32, i));
            case U16 -> Short.toUnsignedInt(src.getAtIndex(I16, i));
            case U8 -> Byte.toUnsignedInt(src.getAtIndex(I8, i));
            case BOOL -> src.getAtIndex(I8, i) != 0 ? 1 : 0;
        };
    }

    /** Element {@code i} of {@code src} as a float, rounded once (F64, I64/U64 and I32/U32 beyond 2^24 round). */
    public static float getFloat(MemorySegment src, StoredType type, long i) {
        return switch (type) {
            case F32 -> src.getAtIndex(F32, i);
            case F16 -> Float.float16ToFloat(src.getAtIndex(I16, i));
            case BF16 -> HostConvert.bf16ToFloat(src.getAtIndex(I16, i));
            case I64 -> (float) src.getAtIndex(I64, i);                 // long -> float rounds once
            case U64 -> unsignedToFloat(src.getAtIndex(I64, i));
            case U32 -> (float) Integer.toUnsignedLong(src.getAtIndex(I32, i));
            case I32 -> (float) src.getAtIndex(I32, i);
            default -> (float) getDouble(src, type, i);                  // exact in double, one rounding to float
        };
    }

    private static double unsignedToDouble(long x) {
        return x >= 0 ? x : ((x >>> 1) | (x & 1)) * 2.0;   // halve keeping a sticky bit, so it rounds once
    }

    private static float unsignedToFloat(long x) {
        return x >= 0 ? (float) x : ((x >>> 1) | (x & 1)) * 2f;
    }

    /**
     * Stores {@code v} as element {@code i} of {@code dst}, rounding a floating type once (nearest even).
     * Integer and BOOL targets need an exact in-range value; anything else is an {@link IllegalArgumentException}.
     */
    public static void setDouble(MemorySegment dst, StoredType type, long i, double v) {
        switch (type) {
            case F64 -> dst.setAtIndex(F64, i, v);
            case F32 -> dst.setAtIndex(F32, i, (float) v);
            case F16 -> dst.setAtIndex(I16, i, (float) v == v ? Float.floatToFloat16((float) v) : (short) encodeMinifloat(v, 5, 10, false));
            case BF16 -> dst.setAtIndex(I16, i, (float) v == v ? HostConvert.floatToBf16((float) v) : (short) encodeMinifloat(v, 8, 7, false));
            case F8_E4M3 -> dst.setAtIndex(I8, i, floatToE4m3(v));
            case F8_E5M2 -> dst.setAtIndex(I8, i, floatToE5m2(v));
            case I64 -> dst.setAtIndex(I64, i, (long) integer(v, -0x1p63, 0x1p63, type));
            case I32 -> dst.setAtIndex(I32, i, (int) integer(v, Integer.MIN_VALUE, 0x1p31, type));
            case I16 -> dst.setAtIndex(I16, i, (short) integer(v, Short.MIN_VALUE, 0x1p15, type));
            case I8 -> dst.setAtIndex(I8, i, (byte) integer(v, Byte.MIN_VALUE, 0x1p7, type));
            case U64 -> {
                double u = integer(v, 0, 0x1p64, type);
                dst.setAtIndex(I64, i, u < 0x1p63 ? (long) u : (long) (u - 0x1p63) + Long.MIN_VALUE);
            }
            case U32 -> dst.setAtIndex(I32, i, (int) (long) integer(v, 0, 0x1p32, type));
            case U16 -> dst.setAtIndex(I16, i, (short) integer(v, 0, 0x1p16, type));
            case U8 -> dst.setAtIndex(I8, i, (byte) integer(v, 0, 0x1p8, type));
            case BOOL -> dst.setAtIndex(I8, i, (byte) integer(v, 0, 2, type));
        }
    }

    /** {@code v} itself, when it is an integer in {@code [lo, hiExclusive)}. */
    private static double integer(double v, double lo, double hiExclusive, StoredType type) {
        if (!(v >= lo && v < hiExclusive) || v != Math.rint(v)) {
            throw new IllegalArgumentException(v + " is not " + (type == StoredType.BOOL ? "0 or 1" : "an integer in the range of " + type));
        }
        return v;
    }

    // ---- whole segments -----------------------------------------------------------------------------------

    /** All {@code dst.length} elements of {@code src}, as floats. */
    public static void toFloats(MemorySegment src, StoredType type, float[] dst) {
        checkBytes(src, type, dst.length, "source");
        switch (type) {
            case F32 -> MemorySegment.copy(src, F32, 0, dst, 0, dst.length);
            case F16 -> {
                for (int i = 0; i < dst.length; i++) dst[i] = Float.float16ToFloat(src.getAtIndex(I16, i));
            }
            case BF16 -> {
                for (int i = 0; i < dst.length; i++) dst[i] = HostConvert.bf16ToFloat(src.getAtIndex(I16, i));
            }
            default -> {
                for (int i = 0; i < dst.length; i++) dst[i] = getFloat(src, type, i);
            }
        }
    }

    /** Stores {@code src} into {@code dst} (exactly {@code src.length} elements of {@code type}); see {@link #setDouble}. */
    public static void fromFloats(float[] src, MemorySegment dst, StoredType type) {
        checkBytes(dst, type, src.length, "destination");
        switch (type) {
            case F32 -> MemorySegment.copy(src, 0, dst, F32, 0, src.length);
            case F16 -> {
                for (int i = 0; i < src.length; i++) dst.setAtIndex(I16, i, Float.floatToFloat16(src[i]));
            }
            case BF16 -> {
                for (int i = 0; i < src.length; i++) dst.setAtIndex(I16, i, HostConvert.floatToBf16(src[i]));
            }
            default -> {
                for (int i = 0; i < src.length; i++) setDouble(dst, type, i, src[i]);
            }
        }
    }

    /**
     * Converts every element of {@code src} ({@code from}) into {@code dst} ({@code to}): both floating-point
     * types, {@code dst} exactly as many elements as {@code src}. One rounding, nearest even. The same type is a
     * plain copy. Segments may be slices of mappings, device staging buffers, anything host-accessible.
     */
    public static void convert(MemorySegment src, StoredType from, MemorySegment dst, StoredType to) {
        if (!from.isFloatingPoint() || !to.isFloatingPoint()) {
            throw new IllegalArgumentException("convert handles floating-point types, not " + from + " -> " + to);
        }
        if (src.byteSize() % from.byteSize() != 0) {
            throw new IllegalArgumentException("source of " + src.byteSize() + " bytes is not a whole number of " + from);
        }
        long n = src.byteSize() / from.byteSize();
        checkBytes(dst, to, n, "destination");
        if (from == to) {
            MemorySegment.copy(src, 0, dst, 0, src.byteSize());
            return;
        }
        switch (from.name() + "->" + to.name()) {
            case "F16->F32" -> {
                for (long i = 0; i < n; i++) dst.setAtIndex(F32, i, Float.float16ToFloat(src.getAtIndex(I16, i)));
            }
            case "BF16->F32" -> {
                for (long i = 0; i < n; i++) dst.setAtIndex(F32, i, HostConvert.bf16ToFloat(src.getAtIndex(I16, i)));
            }
            case "F32->F16" -> {
                for (long i = 0; i < n; i++) dst.setAtIndex(I16, i, Float.floatToFloat16(src.getAtIndex(F32, i)));
            }
            case "F32->BF16" -> {
                for (long i = 0; i < n; i++) dst.setAtIndex(I16, i, HostConvert.floatToBf16(src.getAtIndex(F32, i)));
            }
            case "F16->BF16" -> {   // every F16 is exact in float, so one rounding
                for (long i = 0; i < n; i++) dst.setAtIndex(I16, i, HostConvert.floatToBf16(Float.float16ToFloat(src.getAtIndex(I16, i))));
            }
            case "BF16->F16" -> {
                for (long i = 0; i < n; i++) dst.setAtIndex(I16, i, Float.floatToFloat16(HostConvert.bf16ToFloat(src.getAtIndex(I16, i))));
            }
            default -> {   // through double, where every floating source value is exact
                for (long i = 0; i < n; i++) setDouble(dst, to, i, getDouble(src, from, i));
            }
        }
    }

    private static void checkBytes(MemorySegment seg, StoredType type, long count, String which) {
        long need = Math.multiplyExact(count, (long) type.byteSize());
        if (seg.byteSize() != need) {
            throw new IllegalArgumentException(which + " has " + seg.byteSize() + " bytes, " + count + " " + type + " elements take " + need);
        }
    }
}
