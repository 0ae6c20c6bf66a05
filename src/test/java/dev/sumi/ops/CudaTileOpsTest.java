package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.Tag;

@Tag("gpu")
class CudaTileOpsTest extends TileOpsContract {
    @Override
    protected Device device() {
        return Devices.cuda();
    }
}
