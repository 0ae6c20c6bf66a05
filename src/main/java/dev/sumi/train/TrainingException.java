package dev.sumi.train;

/** A training run cannot start or go on, for a reason its message states in one line (bad input, NaN guard). */
public final class TrainingException extends RuntimeException {
    public TrainingException(String message) {
        super(message);
    }
}
