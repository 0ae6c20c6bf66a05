package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.tensor.DType;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The tensor-core kernels (attention_mma.cu) on the host build, where mma.cuh emulates the mma.sync
 * fragments: the contract's cases check their tiling, masking, padding and online softmax without a
 * GPU. F32 has no tensor-core kernels and is skipped; so is the largest case in F16 (the emulation is
 * slow, and BF16 runs it).
 */
class HostMmaAttentionOpsTest extends AttentionOpsContract {
    @Override
    protected Device device() {
        return Devices.host();
    }

    @Override
    protected AttentionOps.Kernels kernels(DType t) {
        Assumptions.assumeTrue(t != DType.F32, "the tensor-core kernels take F16 and BF16");
        return AttentionOps.Kernels.MMA;
    }

    @Override
    protected boolean runs(DType t, Case c) {
        return t != DType.F16 || c.tq() * c.tk() < 40_000;
    }

    @Test
    void theHostPicksTheMaterialisedPathAndTheTilesFitTheLaunchLimit() {
        for (DType t : FLOATS) assertEquals(AttentionOps.Kernels.MATERIALIZED, AttentionOps.kernelsFor(Devices.host(), t));
        assertEquals(14_336, AttentionOps.mmaSharedBytes(40));
        assertEquals(43_008, AttentionOps.mmaSharedBytes(AttentionParams.MAX_HEAD_DIM));
        assertEquals("d64", AttentionOps.mmaHeadDimClass(64));
        assertEquals("d96", AttentionOps.mmaHeadDimClass(80));
        assertEquals("d160", AttentionOps.mmaHeadDimClass(97));
    }
}
