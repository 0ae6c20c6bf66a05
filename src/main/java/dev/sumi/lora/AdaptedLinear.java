package dev.sumi.lora;

import dev.sumi.ops.LinearOps;
import dev.sumi.ops.LoraOps;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

/**
 * A Linear layer of a network as its {@link Adapters} make it: y = x W^T + b, plus s up(down(x)) when a
 * LoRA module sits there ({@link LoraOps}, the base frozen), or with F32 dW, db formed by the backward
 * (full-gradient mode). One code path for every mode; the network owns the buffers (allocated once).
 *
 * <pre>
 * x (M, K), W (N, K), b (N) or null, y (M, N); with LoRA h = x down^T (M, r) saved, dh (M, r) scratch
 * </pre>
 *
 * <p>Backward scratch comes from its own allocator, which a network built forward-only makes return null:
 * such a layer then has a forward only.
 */
public final class AdaptedLinear {

    /** The network's allocator: buffers it owns and frees. */
    public interface Allocator {
        Tensor alloc(DType type, long... dims);
    }

    private final String where;

    private final Tensor w, b;          // (N, K), (N) or null
    private final Tensor dW, dB;        // F32 (N, K), (N), or null: no weight gradient
    private final LoraAdapter lora;     // or null
    private final Tensor h, dh;         // (M, r) each with LoRA, else null; dh also null when built forward-only

    /**
     * {@code rows}: M of every call. {@code dW}/{@code dB}: the F32 gradients to form, or null; they must be
     * null with an adapter (the base of a LoRA is frozen).
     */
    public AdaptedLinear(String where, Tensor w, Tensor b, Tensor dW, Tensor dB, LoraAdapter lora, long rows, Allocator alloc) {
        this(where, w, b, dW, dB, lora, rows, alloc, alloc);
    }

    /** As above, with the backward scratch from {@code scratch} (one that returns null: forward only). */
    public AdaptedLinear(String where, Tensor w, Tensor b, Tensor dW, Tensor dB, LoraAdapter lora, long rows, Allocator alloc, Allocator scratch) {
        this.where = where;
        if (lora != null && (dW != null || dB != null)) throw new IllegalArgumentException(where + ": a LoRA base layer has no weight gradients");
        this.w = w;
        this.b = b;
        this.dW = dW;
        this.dB = dB;
        this.lora = lora;
        if (lora != null) {
            lora.check(where, w.shape().dim(1), w.shape().dim(0), 0, w.dtype());
            h = alloc.alloc(w.dtype(), rows, lora.rank());
            dh = scratch.alloc(w.dtype(), rows, lora.rank());
        } else {
            h = dh = null;
        }
    }

    /** Whether the backward forms any parameter gradient here (a LoRA module or the layer's own). */
    public boolean trains() {
        return lora != null || dW != null || dB != null;
    }

    public Tensor weight() {
        return w;
    }

    /** y (M, N) = x W^T + b [+ s (x down^T) up^T]. */
    public void forward(Tensor y, Tensor x) {
        if (lora == null) LinearOps.forward(y, x, w, b);
        else LoraOps.forward(y, h, x, w, b, lora.downMatrix(), lora.upMatrix(), lora.scale());
    }

    /** dx (M, K) = d / d x (=; null when not wanted); the adapter's or the layer's F32 gradients +=. */
    public void backward(Tensor dx, Tensor dy, Tensor x) {
        if (lora == null) LinearOps.backward(dx, dW, dB, dy, x, w);
        else if (dh == null) throw new IllegalStateException(where + ": built forward-only, it has no backward");
        else LoraOps.backward(dx, lora.gradDownMatrix(), lora.gradUpMatrix(), null, dh, dy, x, h, w, lora.downMatrix(), lora.upMatrix(), lora.scale());
    }
}
