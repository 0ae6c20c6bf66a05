package dev.sumi.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class DevicePeaksTest {

    private static String label(String name, int major, int minor) {
        DevicePeaks.Gpu g = DevicePeaks.lookup(name, major, minor);
        return g == null ? null : g.label();
    }

    @Test
    void driverNamesFindTheirBoard() {
        assertEquals("H100 SXM", label("cuda:0 NVIDIA H100 80GB HBM3", 9, 0));
        assertEquals("H100 PCIe", label("cuda:0 NVIDIA H100 PCIe", 9, 0));
        assertEquals("H200 SXM", label("cuda:0 NVIDIA H200", 9, 0));
        assertEquals("A100 80GB SXM", label("cuda:1 NVIDIA A100-SXM4-80GB", 8, 0));
        assertEquals("A100 40GB", label("cuda:0 NVIDIA A100-PCIE-40GB", 8, 0));
        assertEquals("L4", label("cuda:0 NVIDIA L4", 8, 9));
        assertEquals("L40S", label("cuda:0 NVIDIA L40S", 8, 9));
        assertEquals("RTX 4090", label("cuda:0 NVIDIA GeForce RTX 4090", 8, 9));
        assertEquals("RTX 5090", label("cuda:0 NVIDIA GeForce RTX 5090", 12, 0));
    }

    @Test
    void aMismatchedComputeCapabilityOrUnknownNameHasNoPeak() {
        assertNull(label("cuda:0 NVIDIA H100 80GB HBM3", 8, 0));
        assertNull(label("cuda:0 Tesla T4", 7, 5));
        assertNull(label(null, 9, 0));
    }

    @Test
    void theLoraParameterCountIsAnSd15Rank32Lora() {
        long[] sizes = OpsBench.sd15LoraTensorSizes(32);
        assertEquals(528, sizes.length);
        assertEquals(18_874_368L, java.util.Arrays.stream(sizes).sum());
    }
}
