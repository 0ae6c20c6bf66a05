package dev.sumi.device;

import dev.sumi.testing.Devices;
import org.junit.jupiter.api.Tag;

/** cuBLAS (cublasGemmStridedBatchedEx, F32 compute) through CudaDevice, held to the same budgets as the host GEMM. */
@Tag("gpu")
class CudaGemmTest extends GemmContract {
    @Override
    protected Device device() {
        return Devices.cuda();
    }
}
