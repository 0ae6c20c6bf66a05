package dev.sumi.device;

/** How one kernel parameter is passed: a device pointer or a scalar of the given C type. */
public enum ParamKind {
    PTR(8), I32(4), U32(4), I64(8), F32(4), F64(8);

    public final int byteSize;

    ParamKind(int byteSize) {
        this.byteSize = byteSize;
    }

    /** The kind of a C parameter type as written in cuda-kernels/ (after the preprocessor). */
    public static ParamKind ofCType(String type) {
        String t = type.replace("const", " ").replace("__restrict__", " ").replace("__restrict", " ")
                .replaceAll("\\s+", " ").trim();
        if (t.endsWith("*")) return PTR;
        return switch (t) {
            case "int", "int32_t", "signed int" -> I32;
            case "unsigned", "unsigned int", "uint32_t" -> U32;
            case "long long", "long long int", "int64_t", "long", "size_t", "ptrdiff_t", "unsigned long long", "uint64_t" -> I64;
            case "float" -> F32;
            case "double" -> F64;
            default -> throw new IllegalArgumentException("kernel parameter type '" + type + "' is not supported (use pointers, int, int64_t, float, double)");
        };
    }

    public String describe() {
        return switch (this) {
            case PTR -> "device pointer (DeviceBuffer or Tensor)";
            case I32 -> "int";
            case U32 -> "unsigned int";
            case I64 -> "long";
            case F32 -> "float";
            case F64 -> "double";
        };
    }
}
