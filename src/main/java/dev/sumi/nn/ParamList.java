package dev.sumi.nn;

import java.util.ArrayList;
import java.util.List;

/**
 * Builds a network's parameter list under checkpoint names, one layer kind per method, the way
 * stable-diffusion.cpp's blocks produce their state-dict names: a prefix per module, the layer's own
 * parameter names appended. Initialisation follows PyTorch's defaults for each layer kind.
 */
public final class ParamList {
    private final List<ParamSpec> params = new ArrayList<>();

    public List<ParamSpec> build() {
        return List.copyOf(params);
    }

    private ParamList add(String name, ParamSpec.Init init, long... shape) {
        params.add(new ParamSpec(name, shape, init));
        return this;
    }

    /** torch.nn.Linear(in, out): weight [out, in], bias [out]. */
    public ParamList linear(String prefix, long in, long out, boolean bias) {
        add(prefix + ".weight", ParamSpec.uniformFanIn(in), out, in);
        if (bias) add(prefix + ".bias", ParamSpec.uniformFanIn(in), out);
        return this;
    }

    /** torch.nn.Conv2d(in, out, k): weight [out, in, k, k], bias [out]. */
    public ParamList conv(String prefix, long in, long out, long k) {
        add(prefix + ".weight", ParamSpec.uniformFanIn(in * k * k), out, in, k, k);
        add(prefix + ".bias", ParamSpec.uniformFanIn(in * k * k), out);
        return this;
    }

    /** GroupNorm or LayerNorm over {@code channels}: weight 1, bias 0. */
    public ParamList norm(String prefix, long channels) {
        add(prefix + ".weight", ParamSpec.ONE, channels);
        add(prefix + ".bias", ParamSpec.ZERO, channels);
        return this;
    }

    /** A tensor with an explicit initialisation (embeddings, CLIP projections). */
    public ParamList tensor(String name, ParamSpec.Init init, long... shape) {
        return add(name, init, shape);
    }
}
