package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.tensor.DType;
import dev.sumi.testing.Devices;

/**
 * The scalar flash kernels (attention.cu) on the host build: the host device itself runs the
 * materialised path (HostAttentionOpsTest), so this keeps the kernels a GPU without tensor cores (and
 * every F32 run on a GPU) uses checked on machines without one.
 */
class HostScalarAttentionOpsTest extends AttentionOpsContract {
    @Override
    protected Device device() {
        return Devices.host();
    }

    @Override
    protected AttentionOps.Kernels kernels(DType t) {
        return AttentionOps.Kernels.SCALAR;
    }
}
