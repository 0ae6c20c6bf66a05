package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.testing.Devices;

class HostBasicOpsTest extends BasicOpsContract {
    @Override
    protected Device device() {
        return Devices.host();
    }
}
