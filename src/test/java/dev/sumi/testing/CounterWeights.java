package dev.sumi.testing;

import dev.sumi.device.Device;
import dev.sumi.nn.ParamSpec;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * Full-size weights that both sides of a golden make for themselves: {@code scripts/golden-blocks} (numpy)
 * and this class draw every parameter and input from the same counter-based generator, so a fixture of a
 * 37M-parameter network holds only its outputs and gradients (see the script's docstring for the rule).
 *
 * <pre>
 * k = mix(SEED ^ fnv1a64(utf8(name)));  z = mix(k + (i + 1) * 0x9E3779B97F4A7C15)   splitmix64's finaliser
 * u = (z >>> 11) * 2^-53 * 2 - 1 in [-1, 1)                                         exact in double
 * value = (float) (offset + bound * u)
 *   rank >= 2: bound 1/sqrt(prod(shape[1:])) (torch's fan-in default); rank 1 "...weight" (norm gains): 1 + 0.1 u;
 *   other rank 1 (biases): 0.1 u; inputs: name "input.NAME", bound given
 * </pre>
 * Every operation is a correctly rounded IEEE double operation, so numpy and Java agree bit for bit; the
 * fixture's {@code fingerprint} (XOR of all parameters' float bits) proves it for each network.
 */
public final class CounterWeights {
    private CounterWeights() {}

    public static final long SEED = 20261126L;
    private static final long GAMMA = 0x9E3779B97F4A7C15L;

    static long fnv1a64(String text) {
        long h = 0xCBF29CE484222325L;
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) h = (h ^ (b & 0xFF)) * 0x100000001B3L;
        return h;
    }

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** offset + bound * u(name, i) for i in [0, n), rounded to float. */
    static float[] draw(String name, int n, double offset, double bound) {
        long key = mix(SEED ^ fnv1a64(name));
        float[] v = new float[n];
        IntStream.range(0, n).parallel().forEach(i -> {
            long z = mix(key + (i + 1L) * GAMMA);
            double u = (z >>> 11) * 0x1.0p-53 * 2 - 1;
            v[i] = (float) (offset + bound * u);
        });
        return v;
    }

    /** The parameter {@code name} of {@code shape} as the rule above makes it. */
    public static float[] parameter(String name, long[] shape) {
        int n = Math.toIntExact(new ParamSpec(name, shape, ParamSpec.ZERO).numel());
        if (shape.length >= 2) return draw(name, n, 0, 1 / Math.sqrt((double) n / shape[0]));
        return name.endsWith("weight") ? draw(name, n, 1, 0.1) : draw(name, n, 0, 0.1);
    }

    /** The input {@code name}: n values uniform in [-bound, bound). */
    public static float[] input(String name, int n, double bound) {
        return draw("input." + name, n, 0, bound);
    }

    /** Every parameter of {@code specs} on {@code device}; {@code fingerprint} gets the XOR of their float bits. */
    public static Map<String, Tensor> parameters(List<ParamSpec> specs, Device device, DType dtype, int[] fingerprint) {
        Map<String, Tensor> params = new LinkedHashMap<>();
        int xor = 0;
        try {
            for (ParamSpec s : specs) {
                float[] v = parameter(s.name(), s.shape());
                for (float f : v) xor ^= Float.floatToRawIntBits(f);
                params.put(s.name(), Tensor.fromFloats(device, dtype, v, s.shape()));
            }
        } catch (RuntimeException e) {
            params.values().forEach(Tensor::close);
            throw e;
        }
        fingerprint[0] = xor;
        return params;
    }
}
