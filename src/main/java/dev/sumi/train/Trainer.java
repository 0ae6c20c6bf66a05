package dev.sumi.train;

/** Runs a training: the loop the command line hands a validated config and a progress sink. */
@FunctionalInterface
public interface Trainer {
    /**
     * Trains until the config's epochs or steps are done, or until {@code interrupt.requested()} (polled between steps;
     * then it saves a resumable state and returns). Reports through {@code progress}; the caller reports a thrown failure
     * to it. The caller marks the interrupt finished when this returns.
     */
    void train(TrainConfig config, ProgressSink progress, Interrupt interrupt) throws Exception;
}
