package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.testing.Devices;

class HostConv2dOpsTest extends Conv2dOpsContract {
    @Override
    protected Device device() {
        return Devices.host();
    }
}
