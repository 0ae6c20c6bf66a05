package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.testing.Devices;

class HostLinearOpsTest extends LinearOpsContract {
    @Override
    protected Device device() {
        return Devices.host();
    }
}
