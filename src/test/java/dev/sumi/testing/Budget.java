package dev.sumi.testing;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Error budgets in the flash-attention manner: a result is compared with an F64 reference, and its
 * error must stay within a multiple of the error a plain low-precision computation of the same thing
 * makes (plus a small absolute floor), never within a guessed constant.
 */
public final class Budget {
    private Budget() {}

    public static double maxAbsError(float[] got, double[] ref) {
        double max = 0;
        for (int i = 0; i < got.length; i++) {
            if (Double.isNaN(ref[i])) continue;
            max = Math.max(max, Math.abs(got[i] - ref[i]));
        }
        return max;
    }

    /** Fails unless max|got - ref| <= factor * max|baseline - ref| + floor; prints both first. */
    public static void assertWithin(String what, float[] got, float[] baseline, double[] ref, double factor, double floor) {
        double errGot = maxAbsError(got, ref), errBase = maxAbsError(baseline, ref);
        double budget = factor * errBase + floor;
        System.out.printf("%-40s max err %.3e, baseline %.3e, budget %.3e%n", what, errGot, errBase, budget);
        if (!(errGot <= budget)) {
            for (int i = 0; i < got.length; i++) {
                if (Math.abs(got[i] - ref[i]) > budget) {
                    fail(what + ": element " + i + " is " + got[i] + ", reference " + ref[i] + " (error " + Math.abs(got[i] - ref[i])
                            + " > budget " + budget + " = " + factor + " x baseline " + errBase + " + " + floor + ")");
                }
            }
            fail(what + ": error " + errGot + " exceeds " + budget);
        }
    }

    /** Bit-for-bit equality (NaN equals NaN), failing at the first difference with its index. */
    public static void assertExact(String what, float[] expected, float[] got) {
        if (expected.length != got.length) fail(what + ": " + got.length + " elements, expected " + expected.length);
        for (int i = 0; i < got.length; i++) {
            if (Float.floatToIntBits(expected[i]) != Float.floatToIntBits(got[i]) && !(expected[i] == got[i])) {
                fail(what + ": element " + i + " is " + got[i] + ", expected " + expected[i]);
            }
        }
    }
}
