package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.testing.Devices;

class HostTileOpsTest extends TileOpsContract {
    @Override
    protected Device device() {
        return Devices.host();
    }
}
