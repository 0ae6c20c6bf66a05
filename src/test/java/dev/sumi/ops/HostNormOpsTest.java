package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.testing.Devices;

class HostNormOpsTest extends NormOpsContract {
    @Override
    protected Device device() {
        return Devices.host();
    }
}
