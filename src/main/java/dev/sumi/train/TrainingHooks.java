package dev.sumi.train;

import dev.sumi.device.Device;
import dev.sumi.lora.DeviceLora;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.SharedWeights;
import dev.sumi.model.clip.ClipTokenizer;
import dev.sumi.tensor.DType;

import java.nio.file.Path;
import java.util.List;

/**
 * What a training run lets other layers do with its live model between steps: the preview images (dev.sumi.sample)
 * draw with the LoRA being trained and the UNet weights already on the device, so the training layer knows nothing
 * of samplers or images. Called on the training thread; the model must be left as it was found.
 */
public interface TrainingHooks {

    /**
     * The run's model as it is on the device: the UNet weights in the training dtype and the LoRA (its forward copies
     * hold the current weights; its multiplier is 1 and must be 1 again on return).
     */
    record LiveModel(TrainConfig config, Checkpoint checkpoint, Device device, DType dtype, ClipTokenizer tokenizer,
                     SharedWeights unetWeights, DeviceLora lora, ProgressSink progress) {}

    TrainingHooks NONE = new TrainingHooks() {};

    /** Before the first step of a fresh run (not a resumed one). */
    default void beforeFirstStep(LiveModel live) {}

    /**
     * Whether {@link #afterEpoch} will use the device after epoch {@code epoch}: the loop then frees its step buffers
     * first (a preview UNet beside the training one would need their memory again), and rebuilds them after.
     */
    default boolean usesDeviceAfterEpoch(int epoch) {
        return false;
    }

    /** After epoch {@code epoch} (from 1) and its saves; {@code saved}: the LoRA file written at its end, or null. */
    default void afterEpoch(int epoch, Path saved, LiveModel live) {}

    /** After the last epoch, when the run was not interrupted; the step buffers are freed. {@code saved}: every LoRA file in order. */
    default void afterTraining(List<Path> saved, LiveModel live) {}
}
