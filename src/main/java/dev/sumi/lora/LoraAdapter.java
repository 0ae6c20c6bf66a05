package dev.sumi.lora;

import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

/**
 * One module's tensors on a device. The optimizer updates the F32 masters; the forward and backward read
 * {@link #down()}/{@link #up()} in the activation dtype, which {@link DeviceLora#castForForward} refreshes
 * from the masters once per step (with F32 activations they are the masters themselves: no copy).
 * Gradients are F32 and accumulate ({@code +=}).
 */
public final class LoraAdapter {
    final LoraModule module;
    final Tensor masterDown, masterUp;   // F32 (r, in[, k, k]), (out, r[, 1, 1])
    final Tensor down, up;               // activation dtype, same shapes (== the masters when F32)
    final Tensor gradDown, gradUp;       // F32, same shapes
    private final Tensor downMatrix, upMatrix, gradDownMatrix, gradUpMatrix;   // the same memory as 2-D views
    private float scale;

    LoraAdapter(LoraModule module, Tensor masterDown, Tensor masterUp, Tensor down, Tensor up, Tensor gradDown, Tensor gradUp, float multiplier) {
        this.module = module;
        this.masterDown = masterDown;
        this.masterUp = masterUp;
        this.down = down;
        this.up = up;
        this.gradDown = gradDown;
        this.gradUp = gradUp;
        long r = module.rank(), fanIn = module.downCount() / r;
        downMatrix = down.reshape(r, fanIn);
        upMatrix = up.reshape(module.out(), r);
        gradDownMatrix = gradDown.reshape(r, fanIn);
        gradUpMatrix = gradUp.reshape(module.out(), r);
        setMultiplier(multiplier);
    }

    void setMultiplier(float multiplier) {
        scale = module.scale(multiplier);
    }

    public LoraModule module() {
        return module;
    }

    public int rank() {
        return module.rank();
    }

    /** multiplier * alpha / rank. */
    public float scale() {
        return scale;
    }

    /** down in the activation dtype, as stored: (r, in) or (r, in, k, k). */
    public Tensor down() {
        return down;
    }

    /** down as a matrix (r, in * k * k). */
    public Tensor downMatrix() {
        return downMatrix;
    }

    /** up in the activation dtype as a matrix (out, r). */
    public Tensor upMatrix() {
        return upMatrix;
    }

    /** F32 d loss / d down, as stored (r, in) or (r, in, k, k). */
    public Tensor gradDown() {
        return gradDown;
    }

    public Tensor gradDownMatrix() {
        return gradDownMatrix;
    }

    /** F32 d loss / d up as a matrix (out, r). */
    public Tensor gradUpMatrix() {
        return gradUpMatrix;
    }

    /** Checks that this adapter fits a base layer of {@code in} x {@code out} features and dtype {@code dtype}. */
    public void check(String where, long in, long out, int kernel, DType dtype) {
        if (module.in() != in || module.out() != out || module.kernel() != kernel || down.dtype() != dtype) {
            throw new IllegalArgumentException(where + ": LoRA module " + module.kohyaName() + " (" + module.in() + " -> " + module.out()
                    + ", kernel " + module.kernel() + ", " + down.dtype() + ") does not fit the layer (" + in + " -> " + out + ", kernel " + kernel + ", " + dtype + ")");
        }
    }
}
