package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.testing.Devices;

class HostActivationOpsTest extends ActivationOpsContract {
    @Override
    protected Device device() {
        return Devices.host();
    }
}
