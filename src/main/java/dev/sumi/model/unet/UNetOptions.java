package dev.sumi.model.unet;

/**
 * How a {@link UNet} keeps what its backward needs.
 *
 * @param gradientCheckpointing keep only each module's input and output (the skips and the next module's input);
 *                              every module's internal activations and backward scratch share one region sized
 *                              for the largest module, and the backward re-runs a module's forward into it right
 *                              before that module's backward (kohya's / diffusers' {@code --gradient_checkpointing}
 *                              per ResBlock and SpatialTransformer). Same results, bit for bit; about one more
 *                              forward per step.
 * @param forwardOnly           build no backward at all (image generation): no module, adapter or UNet-level
 *                              gradient or backward scratch buffer is allocated, and {@link UNet#backward} throws.
 *                              The forward gives the same bits as with a backward.
 */
public record UNetOptions(boolean gradientCheckpointing, boolean forwardOnly) {
    /** Every activation kept for the backward. */
    public static final UNetOptions DEFAULT = new UNetOptions(false, false);
    public static final UNetOptions CHECKPOINTED = new UNetOptions(true, false);
    /** The least memory a forward can use: the modules' internals share one region, and there is no backward. */
    public static final UNetOptions INFERENCE = new UNetOptions(true, true);

    /** With a backward. */
    public UNetOptions(boolean gradientCheckpointing) {
        this(gradientCheckpointing, false);
    }
}
