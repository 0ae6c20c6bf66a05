package dev.sumi.lora;

import java.util.Collections;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * What a network (UNet, text encoder) trains at its adaptable Linear and conv layers, handed to its
 * constructor: nothing ({@link #FROZEN}: input gradients only), LoRA modules by site (the base stays
 * frozen: no weight gradient is allocated), or the F32 gradient of every attention / feed-forward / MLP
 * Linear weight and bias ({@link #LINEAR_GRADIENTS}, full fine-tuning's gradients, kept for the goldens
 * that check them against PyTorch).
 */
public final class Adapters {
    public static final Adapters FROZEN = new Adapters(Map.of(), false);
    public static final Adapters LINEAR_GRADIENTS = new Adapters(Map.of(), true);

    private final Map<LoraSite, LoraAdapter> bySite;
    private final boolean linearGradients;
    private final Set<LoraSite> used = Collections.synchronizedSet(new HashSet<>());

    private Adapters(Map<LoraSite, LoraAdapter> bySite, boolean linearGradients) {
        this.bySite = Map.copyOf(bySite);
        this.linearGradients = linearGradients;
    }

    static Adapters lora(Map<LoraSite, LoraAdapter> bySite) {
        return new Adapters(bySite, false);
    }

    /** Whether the network forms F32 gradients of its Linear weights and biases. */
    public boolean linearGradients() {
        return linearGradients;
    }

    /** The adapter at {@code site}, or null. */
    public LoraAdapter at(LoraSite site) {
        LoraAdapter a = bySite.get(site);
        if (a != null) used.add(site);
        return a;
    }

    public LoraAdapter at(String weight) {
        return at(LoraSite.of(weight));
    }

    /** Fails when a module found no layer: the network and the model disagree. */
    public void checkAllUsed(String network) {
        for (var e : bySite.entrySet()) {
            if (!used.contains(e.getKey())) {
                throw new IllegalArgumentException(network + ": LoRA module " + e.getValue().module.kohyaName() + " (" + e.getKey() + ") adapts no layer of this network");
            }
        }
    }
}
