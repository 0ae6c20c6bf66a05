package dev.sumi.testing;

import dev.sumi.device.CudaDevice;
import dev.sumi.device.Device;
import dev.sumi.device.HostDevice;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The devices tests run on: one host device per test JVM, and the first GPU when there is one. */
public final class Devices {
    private Devices() {}

    private static HostDevice host;
    private static Device cuda;

    public static synchronized HostDevice host() {
        if (host == null) host = HostDevice.open();
        return host;
    }

    /** The first CUDA GPU; skips the calling test where there is none (scripts/gpu-check fails on any skip). */
    public static synchronized Device cuda() {
        assumeTrue(CudaDevice.isAvailable(), "no CUDA GPU");
        if (cuda == null) cuda = CudaDevice.open(0);
        return cuda;
    }
}
