package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.testing.Devices;

class HostAttentionOpsTest extends AttentionOpsContract {
    @Override
    protected Device device() {
        return Devices.host();
    }
}
