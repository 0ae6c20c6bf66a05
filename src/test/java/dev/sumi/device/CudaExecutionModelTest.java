package dev.sumi.device;

import dev.sumi.testing.Devices;
import org.junit.jupiter.api.Tag;

@Tag("gpu")
class CudaExecutionModelTest extends ExecutionModelContract {
    @Override
    protected Device device() {
        return Devices.cuda();
    }
}
