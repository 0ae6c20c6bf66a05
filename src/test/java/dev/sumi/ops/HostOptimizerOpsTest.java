package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.testing.Devices;

class HostOptimizerOpsTest extends OptimizerOpsContract {
    @Override
    protected Device device() {
        return Devices.host();
    }
}
