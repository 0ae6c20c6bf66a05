package dev.sumi.device;

/** A kernel resolved on one device: its signature and the device's handle (CUfunction, host table index). */
public record Kernel(KernelSignature signature, Object handle) {
    public String name() {
        return signature.name();
    }
}
