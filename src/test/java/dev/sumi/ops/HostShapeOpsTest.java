package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.testing.Devices;

class HostShapeOpsTest extends ShapeOpsContract {
    @Override
    protected Device device() {
        return Devices.host();
    }
}
