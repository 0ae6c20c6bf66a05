package dev.sumi.lora;

import dev.sumi.device.Device;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.ops.BasicOps;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link LoraNetwork} on a device: per module F32 master weights (what the optimizer updates), their
 * copies in the activation dtype (what the forward reads), and F32 gradients. Hand {@link #adapters} to
 * the UNet and text encoder constructors.
 */
public final class DeviceLora implements AutoCloseable {
    private final LoraNetwork network;
    private final DType dtype;
    private final List<Tensor> owned = new ArrayList<>();
    private final Map<String, LoraAdapter> adapters = new LinkedHashMap<>();   // kohya name -> adapter
    private final List<LoraAdapter> casts = new ArrayList<>();                 // adapters with separate activation copies

    DeviceLora(LoraNetwork network, Device device, DType dtype) {
        this.network = network;
        this.dtype = dtype;
        try {
            for (LoraModule m : network.modules()) {
                Tensor md = own(Tensor.fromFloats(device, DType.F32, network.down(m.kohyaName()), m.downShape()));
                Tensor mu = own(Tensor.fromFloats(device, DType.F32, network.up(m.kohyaName()), m.upShape()));
                boolean copy = dtype != DType.F32;
                // the first copies come from the host values, rounded as the cast kernel rounds (nearest even)
                Tensor d = copy ? own(Tensor.fromFloats(device, dtype, network.down(m.kohyaName()), m.downShape())) : md;
                Tensor u = copy ? own(Tensor.fromFloats(device, dtype, network.up(m.kohyaName()), m.upShape())) : mu;
                LoraAdapter a = new LoraAdapter(m, md, mu, d, u, own(Tensor.allocate(device, DType.F32, m.downShape())),
                        own(Tensor.allocate(device, DType.F32, m.upShape())), network.options().multiplier());
                adapters.put(m.kohyaName(), a);
                if (copy) casts.add(a);
            }
            zeroGradients();
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private Tensor own(Tensor t) {
        owned.add(t);
        return t;
    }

    public LoraNetwork network() {
        return network;
    }

    /** The adapters of one component, by site, for its network's constructor. */
    public Adapters adapters(Component c) {
        Map<LoraSite, LoraAdapter> bySite = new LinkedHashMap<>();
        for (LoraAdapter a : adapters.values()) if (a.module.component() == c) bySite.put(a.module.site(), a);
        return Adapters.lora(bySite);
    }

    public LoraAdapter adapter(String kohyaName) {
        LoraAdapter a = adapters.get(kohyaName);
        if (a == null) throw new IllegalArgumentException("lora: no module " + kohyaName);
        return a;
    }

    /**
     * Rounds the F32 masters into the activation-dtype copies the forward reads: once per step, after the
     * optimizer (one cast kernel per tensor; nothing with F32 activations, where the copies are the masters).
     */
    public void castForForward() {
        for (LoraAdapter a : casts) {
            BasicOps.cast(a.down, a.masterDown);
            BasicOps.cast(a.up, a.masterUp);
        }
    }

    public void zeroGradients() {
        for (LoraAdapter a : adapters.values()) {
            BasicOps.fill(a.gradDown, 0f);
            BasicOps.fill(a.gradUp, 0f);
        }
    }

    /** The strength the forward applies from now on (scale = multiplier * alpha / rank). */
    public void setMultiplier(float multiplier) {
        for (LoraAdapter a : adapters.values()) a.setMultiplier(multiplier);
    }

    /** F32 masters in module order, down then up of each: what the optimizer updates. */
    public List<Tensor> parameters() {
        List<Tensor> out = new ArrayList<>();
        for (LoraAdapter a : adapters.values()) {
            out.add(a.masterDown);
            out.add(a.masterUp);
        }
        return out;
    }

    /** F32 gradients, in the order of {@link #parameters}. */
    public List<Tensor> gradients() {
        List<Tensor> out = new ArrayList<>();
        for (LoraAdapter a : adapters.values()) {
            out.add(a.gradDown);
            out.add(a.gradUp);
        }
        return out;
    }

    /** Copies the masters back into the host network (then {@link LoraNetwork#export} for the file writer). */
    public void download() {
        for (LoraAdapter a : adapters.values()) network.set(a.module.kohyaName(), a.masterDown.toFloats(), a.masterUp.toFloats());
    }

    public DType dtype() {
        return dtype;
    }

    @Override
    public void close() {
        for (Tensor t : owned) t.close();
        owned.clear();
    }
}
