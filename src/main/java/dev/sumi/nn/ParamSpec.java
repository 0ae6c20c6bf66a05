package dev.sumi.nn;

import java.util.Arrays;

/**
 * One parameter of a network: its full checkpoint name (the LDM key), its shape, and how a fresh
 * network initialises it. Layouts produce these lists from architecture configs; loaders check a
 * file against them and {@code sumi make-model} fills them.
 */
public record ParamSpec(String name, long[] shape, Init init) {

    public ParamSpec {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public long numel() {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ParamSpec p && name.equals(p.name) && Arrays.equals(shape, p.shape) && init.equals(p.init);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    /** How a parameter starts out; mirrors the reference implementations so activations stay sane. */
    public sealed interface Init {
        /** U(-bound, bound): PyTorch's default for Linear and Conv weights and biases, bound = 1/sqrt(fan_in). */
        record Uniform(double bound) implements Init {}

        /** N(0, std^2), e.g. CLIP's embeddings and projections. */
        record Normal(double std) implements Init {}

        /** Every element = value (norm weights 1, biases 0). */
        record Constant(double value) implements Init {}
    }

    public static Init uniformFanIn(long fanIn) {
        return new Init.Uniform(1.0 / Math.sqrt(fanIn));
    }

    public static final Init ZERO = new Init.Constant(0);
    public static final Init ONE = new Init.Constant(1);
}
