package dev.sumi.tensor;

/**
 * Element types a device buffer may hold. {@code code} is the value the native layer sees
 * (host library and kernel manifests); {@code safetensorsName} is the dtype string of the file format.
 */
public enum DType {
    F32(0, 4, "F32"),
    F16(1, 2, "F16"),
    BF16(2, 2, "BF16"),
    I32(3, 4, "I32");

    public final int code;
    public final int byteSize;
    public final String safetensorsName;

    DType(int code, int byteSize, String safetensorsName) {
        this.code = code;
        this.byteSize = byteSize;
        this.safetensorsName = safetensorsName;
    }

    public boolean isFloatingPoint() {
        return this != I32;
    }

    /** Kernel-name suffix: {@code fill_f32}, {@code cast_f16_bf16}. */
    public String kernelSuffix() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * Machine epsilon of the type's significand (distance from 1.0 to the next value):
     * the unit of every tolerance in the tests.
     */
    public double epsilon() {
        return switch (this) {
            case F32 -> Math.ulp(1.0f);
            case F16 -> 0x1p-10;
            case BF16 -> 0x1p-7;
            case I32 -> 0;
        };
    }
}
