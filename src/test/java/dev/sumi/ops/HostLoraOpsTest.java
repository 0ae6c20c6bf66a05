package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.testing.Devices;

class HostLoraOpsTest extends LoraOpsContract {
    @Override
    protected Device device() {
        return Devices.host();
    }
}
