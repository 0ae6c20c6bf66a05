package dev.sumi.device;

/** A failure reported by a device: a CUDA or cuBLAS error code, a bad launch, or memory exhausted. */
public class DeviceException extends RuntimeException {
    public DeviceException(String message) {
        super(message);
    }

    public DeviceException(String message, Throwable cause) {
        super(message, cause);
    }
}
