package dev.sumi.tensor.safetensors;

import dev.sumi.tensor.DType;
import dev.sumi.tensor.HostConvert;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StoredConvertTest {

    @Test
    void storedTypesParseAndMapToDeviceTypes() {
        assertEquals(StoredType.F8_E4M3, StoredType.parse("F8_E4M3"));
        assertEquals("unknown safetensors dtype \"float32\"", assertThrows(IllegalArgumentException.class, () -> StoredType.parse("float32")).getMessage());
        assertNull(StoredType.lookup("f16"));
        for (DType d : DType.values()) {
            assertEquals(d, StoredType.of(d).deviceType());
            assertEquals(d.byteSize, StoredType.of(d).byteSize());
            assertEquals(d.safetensorsName, StoredType.of(d).headerName());
        }
        assertNull(StoredType.F64.deviceType());
        assertNull(StoredType.BOOL.deviceType());
        assertEquals(1, StoredType.BOOL.byteSize());
        assertEquals(1, StoredType.F8_E5M2.byteSize());
    }

    @Test
    void e4m3fnDecodesPerTheOcpSpec() {
        assertEquals(1f, StoredConvert.e4m3ToFloat((byte) 0x38));          // 0.0111.000
        assertEquals(448f, StoredConvert.e4m3ToFloat((byte) 0x7e));        // 0.1111.110: max
        assertEquals(-448f, StoredConvert.e4m3ToFloat((byte) 0xfe));
        assertEquals(0x1p-6f, StoredConvert.e4m3ToFloat((byte) 0x08));     // min normal
        assertEquals(0x1p-9f, StoredConvert.e4m3ToFloat((byte) 0x01));     // min subnormal
        assertEquals(0.875f * 0x1p-6f, StoredConvert.e4m3ToFloat((byte) 0x07));   // max subnormal
        assertEquals(-0f, StoredConvert.e4m3ToFloat((byte) 0x80));
        assertTrue(Float.isNaN(StoredConvert.e4m3ToFloat((byte) 0x7f)));
        assertTrue(Float.isNaN(StoredConvert.e4m3ToFloat((byte) 0xff)));
        int nans = 0;
        for (int b = 0; b < 256; b++) if (Float.isNaN(StoredConvert.e4m3ToFloat((byte) b))) nans++;
        assertEquals(2, nans, "no infinities; S.1111.111 is the only NaN");
    }

    @Test
    void e5m2DecodesPerTheOcpSpec() {
        assertEquals(1f, StoredConvert.e5m2ToFloat((byte) 0x3c));
        assertEquals(57344f, StoredConvert.e5m2ToFloat((byte) 0x7b));
        assertEquals(Float.POSITIVE_INFINITY, StoredConvert.e5m2ToFloat((byte) 0x7c));
        assertEquals(Float.NEGATIVE_INFINITY, StoredConvert.e5m2ToFloat((byte) 0xfc));
        assertEquals(0x1p-16f, StoredConvert.e5m2ToFloat((byte) 0x01));
        assertEquals(0x1p-14f, StoredConvert.e5m2ToFloat((byte) 0x04));
        assertTrue(Float.isNaN(StoredConvert.e5m2ToFloat((byte) 0x7d)));
    }

    @Test
    void everyF8PatternRoundTrips() {
        for (int b = 0; b < 256; b++) {
            float e4 = StoredConvert.e4m3ToFloat((byte) b), e5 = StoredConvert.e5m2ToFloat((byte) b);
            if (Float.isNaN(e4)) assertTrue(Float.isNaN(StoredConvert.e4m3ToFloat(StoredConvert.floatToE4m3(e4))));
            else assertEquals((byte) b, StoredConvert.floatToE4m3(e4), "e4m3 " + Integer.toHexString(b));
            if (Float.isNaN(e5)) assertTrue(Float.isNaN(StoredConvert.e5m2ToFloat(StoredConvert.floatToE5m2(e5))));
            else assertEquals((byte) b, StoredConvert.floatToE5m2(e5), "e5m2 " + Integer.toHexString(b));
        }
    }

    @Test
    void e4m3RoundsToNearestEvenAndOverflowsToNan() {
        assertEquals(1f, e4(1.0625f));              // halfway 1 (000) / 1.125 (001): even
        assertEquals(1.25f, e4(1.1875f));           // halfway 1.125 (001) / 1.25 (010): even
        assertEquals(1.125f, e4(1.0626f));
        assertEquals(448f, e4(449f));
        assertEquals(448f, e4(464f));               // halfway 448 / (480): even is 448
        assertTrue(Float.isNaN(e4(464.01f)));
        assertTrue(Float.isNaN(e4(Float.POSITIVE_INFINITY)));
        assertEquals(0f, e4(0x1p-10f));             // halfway 0 / min subnormal: even is 0
        assertEquals(0x1p-9f, e4(0x1.8p-10f));
        assertEquals(0x1p-6f, e4(0.9999f * 0x1p-6f));   // subnormal rounding up into the normals
        assertEquals(-2f, e4(-2.0625f));
    }

    private static float e4(float v) {
        return StoredConvert.e4m3ToFloat(StoredConvert.floatToE4m3(v));
    }

    /** E5M2 is the top byte of an F16: rounding the low byte away in integers is an independent reference. */
    @Test
    void e5m2MatchesIntegerRoundingOfEveryF16() {
        for (int h = 0; h < 65536; h++) {
            if ((h & 0x7c00) == 0x7c00) continue;   // inf / NaN
            int mag = h & 0x7fff, top = mag >>> 8, low = mag & 0xff;
            if (low > 0x80 || (low == 0x80 && (top & 1) == 1)) top++;   // carries into the exponent, up to infinity
            int expected = (h & 0x8000) >>> 8 | top;
            float f = Float.float16ToFloat((short) h);
            assertEquals((byte) expected, StoredConvert.floatToE5m2(f), "f16 " + Integer.toHexString(h));
        }
    }

    /** The one generic rounding routine reproduces the JDK's F16 and the kernels' BF16 on random floats. */
    @Test
    void genericEncoderMatchesF16AndBf16() {
        Random r = new Random(11);
        for (int i = 0; i < 1_000_000; i++) {
            float f = i < 16 ? new float[]{0f, -0f, 65504f, 65520f, 65519.99f, 0x1p-24f, 0x1p-25f, 0x1.8p-25f, Float.MAX_VALUE,
                    Float.MIN_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1f + 0x1p-11f, 1f + 3 * 0x1p-8f, -0x1p-133f, 0x1.fffffep127f}[i]
                    : Float.intBitsToFloat(r.nextInt());
            if (Float.isNaN(f)) continue;
            assertEquals(Float.floatToFloat16(f) & 0xffff, StoredConvert.encodeMinifloat(f, 5, 10, false), "f16 of " + f);
            assertEquals(HostConvert.floatToBf16(f) & 0xffff, StoredConvert.encodeMinifloat(f, 8, 7, false), "bf16 of " + f);
        }
    }

    @Test
    void convertRoundsOnceEvenFromF64() {
        try (Arena a = Arena.ofConfined()) {
            // 1 + 2^-11 + 2^-40: through float it becomes the F16 tie 1 + 2^-11 and rounds to 1; rounded once it is 1 + 2^-10
            MemorySegment src = a.allocate(8);
            src.set(StoredConvert.F64, 0, 1 + 0x1p-11 + 0x1p-40);
            MemorySegment dst = a.allocate(2);
            StoredConvert.convert(src, StoredType.F64, dst, StoredType.F16);
            assertEquals(1f + 0x1p-10f, Float.float16ToFloat(dst.get(StoredConvert.I16, 0)));
            StoredConvert.convert(src, StoredType.F64, dst, StoredType.BF16);
            assertEquals(1f, HostConvert.bf16ToFloat(dst.get(StoredConvert.I16, 0)));
        }
    }

    @Test
    void convertBetweenEveryFloatingPair() {
        Random r = new Random(5);
        int n = 4099;   // odd, so nothing divides evenly
        float[] values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(7) - 3));
        values[0] = Float.NaN;
        values[1] = Float.NEGATIVE_INFINITY;
        values[2] = -0f;
        try (Arena a = Arena.ofConfined()) {
            for (StoredType from : StoredType.values()) {
                if (!from.isFloatingPoint()) continue;
                MemorySegment src = a.allocate((long) n * from.byteSize());
                for (int i = 0; i < n; i++) StoredConvert.setDouble(src, from, i, values[i]);
                for (StoredType to : StoredType.values()) {
                    if (!to.isFloatingPoint()) continue;
                    MemorySegment dst = a.allocate((long) n * to.byteSize());
                    StoredConvert.convert(src, from, dst, to);
                    for (int i = 0; i < n; i++) {
                        double in = StoredConvert.getDouble(src, from, i);
                        MemorySegment one = a.allocate(to.byteSize());
                        StoredConvert.setDouble(one, to, 0, in);   // element-wise reference
                        double want = StoredConvert.getDouble(one, to, 0), got = StoredConvert.getDouble(dst, to, i);
                        assertTrue(Double.compare(want, got) == 0 || (Double.isNaN(want) && Double.isNaN(got)),
                                from + " -> " + to + " at " + i + ": " + in + " gave " + got + ", want " + want);
                    }
                }
            }
            // the F32 <-> F16/BF16 fast paths agree with the kernels' conversions
            MemorySegment f32 = a.allocate(4L * n), h = a.allocate(2L * n);
            StoredConvert.fromFloats(values, f32, StoredType.F32);
            StoredConvert.convert(f32, StoredType.F32, h, StoredType.BF16);
            for (int i = 3; i < n; i++) assertEquals(HostConvert.roundTo(DType.BF16, values[i]), HostConvert.bf16ToFloat(h.getAtIndex(StoredConvert.I16, i)));
            StoredConvert.convert(f32, StoredType.F32, h, StoredType.F16);
            for (int i = 3; i < n; i++) assertEquals(HostConvert.roundTo(DType.F16, values[i]), Float.float16ToFloat(h.getAtIndex(StoredConvert.I16, i)));

            assertThrows(IllegalArgumentException.class, () -> StoredConvert.convert(f32, StoredType.F32, a.allocate(2L * n + 2), StoredType.F16));
            assertThrows(IllegalArgumentException.class, () -> StoredConvert.convert(f32, StoredType.F32, a.allocate(4L * n), StoredType.I32));
            assertThrows(IllegalArgumentException.class, () -> StoredConvert.convert(a.allocate(3), StoredType.F16, a.allocate(4), StoredType.F32));
        }
    }

    @Test
    void convertWorksInSlicesOfALargerBuffer() {
        try (Arena a = Arena.ofConfined()) {
            int n = 1000;
            MemorySegment src = a.allocate(2L * n), whole = a.allocate(4L * n), sliced = a.allocate(4L * n);
            for (int i = 0; i < n; i++) src.setAtIndex(StoredConvert.I16, i, (short) (i * 37));
            StoredConvert.convert(src, StoredType.BF16, whole, StoredType.F32);
            for (int start = 0; start < n; start += 128) {   // streaming: 128-element chunks, the last one short
                int len = Math.min(128, n - start);
                StoredConvert.convert(src.asSlice(2L * start, 2L * len), StoredType.BF16, sliced.asSlice(4L * start, 4L * len), StoredType.F32);
            }
            assertEquals(-1, whole.mismatch(sliced));
        }
    }
}
