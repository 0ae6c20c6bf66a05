package dev.sumi.tensor;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HostConvertTest {

    @Test
    void bf16RoundsToNearestEven() {
        // 1 + 2^-8 is exactly halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to the even one (1)
        assertEquals(1.0f, HostConvert.roundTo(DType.BF16, 1.0f + 0x1p-8f));
        // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even)
        assertEquals(1.0f + 0x1p-6f, HostConvert.roundTo(DType.BF16, 1.0f + 3 * 0x1p-8f));
        assertEquals(Float.POSITIVE_INFINITY, HostConvert.roundTo(DType.BF16, Float.MAX_VALUE));
        assertTrue(Float.isNaN(HostConvert.roundTo(DType.BF16, Float.NaN)));
        assertEquals(-0.0f, HostConvert.roundTo(DType.BF16, -0.0f));
    }

    @Test
    void f16RangeAndSubnormals() {
        assertEquals(65504f, HostConvert.roundTo(DType.F16, 65504f));
        assertEquals(Float.POSITIVE_INFINITY, HostConvert.roundTo(DType.F16, 65520f));
        assertEquals(0x1p-24f, HostConvert.roundTo(DType.F16, 0x1p-24f));   // smallest subnormal
        assertEquals(0f, HostConvert.roundTo(DType.F16, 0x1p-26f));
    }

    @Test
    void everyBf16BitPatternRoundTrips() {
        for (int h = 0; h < 65536; h++) {
            float f = HostConvert.bf16ToFloat((short) h);
            if (Float.isNaN(f)) continue;
            assertEquals((short) h, HostConvert.floatToBf16(f), "pattern " + Integer.toHexString(h));
        }
    }

    @Test
    void shapesNeverOverflowSilently() {
        assertEquals(24, Shape.of(2, 3, 4).numel());
        assertEquals(1, Shape.of().numel());
        assertThrows(ArithmeticException.class, () -> Shape.of(1L << 40, 1L << 40).numel());
        assertThrows(IllegalArgumentException.class, () -> Shape.of(2, -1));
    }
}
