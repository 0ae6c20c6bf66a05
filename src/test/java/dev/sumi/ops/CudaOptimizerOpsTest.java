package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.Tag;

@Tag("gpu")
class CudaOptimizerOpsTest extends OptimizerOpsContract {
    @Override
    protected Device device() {
        return Devices.cuda();
    }
}
