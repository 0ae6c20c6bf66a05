package dev.sumi.tensor.safetensors;

import dev.sumi.tensor.DType;

import java.util.HashMap;
import java.util.Map;

/**
 * Element types a safetensors file may declare ({@code "dtype"} in the header), spelled exactly as the
 * format spells them. Every element is a whole number of bytes, little-endian.
 * F8_E4M3 is the "FN" variant (no infinities, one NaN pattern per sign, max 448);
 * F8_E5M2 is IEEE-like (the top byte of an F16).
 */
public enum StoredType {
    F64(8, true),
    F32(4, true),
    F16(2, true),
    BF16(2, true),
    F8_E4M3(1, true),
    F8_E5M2(1, true),
    I64(8, false),
    I32(4, false),
    I16(2, false),
    I8(1, false),
    U64(8, false),
    U32(4, false),
    U16(2, false),
    U8(1, false),
    BOOL(1, false);   // one byte per element, 0 = false, anything else = true

    private static final Map<String, StoredType> BY_NAME = new HashMap<>();
    static {
        for (StoredType t : values()) BY_NAME.put(t.name(), t);
    }

    private final int byteSize;
    private final boolean floatingPoint;

    StoredType(int byteSize, boolean floatingPoint) {
        this.byteSize = byteSize;
        this.floatingPoint = floatingPoint;
    }

    public int byteSize() {
        return byteSize;
    }

    public boolean isFloatingPoint() {
        return floatingPoint;
    }

    /** The header's dtype string, e.g. {@code "F8_E4M3"}. */
    public String headerName() {
        return name();
    }

    /** The device type with the same bit layout, or null where the device has none (F64, F8, I64, ...). */
    public DType deviceType() {
        return switch (this) {
            case F32 -> DType.F32;
            case F16 -> DType.F16;
            case BF16 -> DType.BF16;
            case I32 -> DType.I32;
            default -> null;
        };
    }

    public static StoredType of(DType type) {
        return switch (type) {
            case F32 -> F32;
            case F16 -> F16;
            case BF16 -> BF16;
            case I32 -> I32;
        };
    }

    /** The type a header dtype string names (case-sensitive, as the format is), or null if none. */
    public static StoredType lookup(String headerName) {
        return BY_NAME.get(headerName);
    }

    /** Like {@link #lookup}, but an unknown name is an {@link IllegalArgumentException}. */
    public static StoredType parse(String headerName) {
        StoredType t = lookup(headerName);
        if (t == null) throw new IllegalArgumentException("unknown safetensors dtype " + Messages.quote(headerName));
        return t;
    }
}
