package dev.sumi.device;

import dev.sumi.tensor.Tensor;

import java.util.List;

/**
 * A kernel as the build found it in cuda-kernels/: its name, its parameters, and whether its threads
 * cooperate (barriers or warp shuffles), which decides how the host device runs a block.
 */
public record KernelSignature(String name, List<ParamKind> params, boolean cooperative, String source) {

    public KernelSignature {
        params = List.copyOf(params);
    }

    /**
     * Checks a launch's arguments against the parameters and converts each to the value passed:
     * a Long address for pointers, Integer/Long/Float/Double for scalars.
     */
    public Object[] bind(Device device, Object... args) {
        if (args.length != params.size()) {
            throw new DeviceException("kernel " + name + " takes " + params.size() + " arguments " + params + ", got " + args.length);
        }
        Object[] bound = new Object[args.length];
        for (int i = 0; i < args.length; i++) {
            bound[i] = bindOne(device, i, params.get(i), args[i]);
        }
        return bound;
    }

    private Object bindOne(Device device, int i, ParamKind kind, Object arg) {
        if (arg == null) throw new DeviceException("kernel " + name + ": argument " + i + " is null");
        switch (kind) {
            case PTR -> {
                DeviceBuffer buf = switch (arg) {
                    case Tensor t -> t.buffer();
                    case DeviceBuffer b -> b;
                    default -> throw mismatch(i, kind, arg);
                };
                if (buf.device() != device) {
                    throw new DeviceException("kernel " + name + ": argument " + i + " lives on " + buf.device().name() + ", not on " + device.name());
                }
                return buf.address();
            }
            case I32, U32 -> {
                if (arg instanceof Integer v) return v;
                if (arg instanceof Long v && v == (int) (long) v) return (int) (long) v;
                throw mismatch(i, kind, arg);
            }
            case I64 -> {
                if (arg instanceof Long v) return v;
                if (arg instanceof Integer v) return (long) v;
                throw mismatch(i, kind, arg);
            }
            case F32 -> {
                if (arg instanceof Float v) return v;
                if (arg instanceof Double v) return (float) (double) v;
                throw mismatch(i, kind, arg);
            }
            case F64 -> {
                if (arg instanceof Double v) return v;
                if (arg instanceof Float v) return (double) v;
                throw mismatch(i, kind, arg);
            }
        }
        throw new AssertionError(kind);
    }

    private DeviceException mismatch(int i, ParamKind kind, Object arg) {
        return new DeviceException("kernel " + name + ": argument " + i + " must be a " + kind.describe()
                + ", got " + arg.getClass().getSimpleName() + " " + arg);
    }
}
