package dev.sumi.train;

/** Runs a training: the loop the command line hands a validated config and a progress sink. */
@FunctionalInterface
public interface Trainer {
    /**
     * Trains until the config's epochs or steps are done, or until {@link Interrupt#requested()} (then it saves a
     * resumable state and returns). Reports through {@code progress}; failures are thrown after {@link ProgressSink#error}.
     */
    void train(TrainConfig config, ProgressSink progress) throws Exception;
}
