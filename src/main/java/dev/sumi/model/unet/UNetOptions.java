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
 */
public record UNetOptions(boolean gradientCheckpointing) {
    /** Every activation kept for the backward. */
    public static final UNetOptions DEFAULT = new UNetOptions(false);
    public static final UNetOptions CHECKPOINTED = new UNetOptions(true);
}
