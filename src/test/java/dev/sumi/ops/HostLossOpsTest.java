package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.testing.Devices;

class HostLossOpsTest extends LossOpsContract {
    @Override
    protected Device device() {
        return Devices.host();
    }
}
