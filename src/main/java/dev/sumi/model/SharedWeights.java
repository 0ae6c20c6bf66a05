package dev.sumi.model;

import dev.sumi.device.Device;
import dev.sumi.nn.ParamSpec;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One component's weights on a device, loaded once and lent to several network instances (a UNet or VAE per
 * bucket shape, a text encoder per batch size). The networks take ownership of the parameter map they are given;
 * a lent map holds views, whose close frees nothing, so the weights live until this object is closed.
 */
public final class SharedWeights implements AutoCloseable {
    private final Map<String, Tensor> tensors;

    private SharedWeights(Map<String, Tensor> tensors) {
        this.tensors = tensors;
    }

    /** Loads {@code prefix + spec.name()} for every spec (see {@link WeightLoader#loadAll}). */
    public static SharedWeights load(Checkpoint checkpoint, String prefix, List<ParamSpec> specs, Device device, DType dtype) {
        return WeightLoader.loadAll(checkpoint, prefix, specs, device, dtype, SharedWeights::new);
    }

    /** Views of every tensor, by the same names: a network may own and close them. */
    public Map<String, Tensor> lend() {
        Map<String, Tensor> views = new LinkedHashMap<>();
        for (var e : tensors.entrySet()) views.put(e.getKey(), e.getValue().reshape(e.getValue().shape().dims()));
        return Collections.unmodifiableMap(views);
    }

    @Override
    public void close() {
        tensors.values().forEach(Tensor::close);
    }
}
