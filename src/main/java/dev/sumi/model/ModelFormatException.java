package dev.sumi.model;

/** A model file or folder that sumi cannot use, with a one-line reason naming it. */
public class ModelFormatException extends RuntimeException {
    public ModelFormatException(String message) {
        super(message);
    }
}
