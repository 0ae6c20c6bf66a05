package dev.sumi.data;

/** A training image, caption or dataset folder that sumi cannot use, with a one-line reason naming it. */
public class DataException extends RuntimeException {
    public DataException(String message) {
        super(message);
    }
}
