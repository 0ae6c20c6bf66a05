package dev.sumi.device;

import dev.sumi.ops.BasicOps;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PlanningDeviceTest {

    @Test
    void fakeAddressesNeverOverlapAndAreAligned() {
        try (PlanningDevice d = new PlanningDevice()) {
            List<DeviceBuffer> bufs = new ArrayList<>();
            long[] sizes = {0, 1, 255, 256, 257, 1000, 1 << 20, 3};
            for (long s : sizes) bufs.add(d.allocate(s));
            long freed = bufs.get(2).address();
            bufs.remove(2).close();
            DeviceBuffer again = d.allocate(100);
            assertTrue(again.address() > freed, "freed ranges are not reused: addresses only grow");
            bufs.add(again);
            for (int i = 0; i < bufs.size(); i++) {
                DeviceBuffer a = bufs.get(i);
                assertEquals(0, a.address() % PlanningDevice.ALIGNMENT, a.toString());
                for (int j = i + 1; j < bufs.size(); j++) {
                    DeviceBuffer b = bufs.get(j);
                    long a0 = a.address(), a1 = a0 + PlanningDevice.rounded(a.bytes());
                    long b0 = b.address(), b1 = b0 + PlanningDevice.rounded(b.bytes());
                    assertTrue(a1 <= b0 || b1 <= a0, a + " overlaps " + b);
                }
            }
        }
    }

    @Test
    void liveAndPeakRoundLikeTheHostDevice() {
        try (PlanningDevice d = new PlanningDevice(1L << 30)) {
            DeviceBuffer a = d.allocate(1);        // 256
            DeviceBuffer b = d.allocate(300);      // 512
            assertEquals(768, d.live());
            assertEquals(768, d.peak());
            b.close();
            b.close();                             // freeing twice is a no-op
            assertEquals(256, d.live());
            assertEquals(768, d.peak());
            DeviceBuffer c = d.allocate(256);      // 256
            assertEquals(512, d.live());
            assertEquals(768, d.peak());
            assertEquals(new MemoryInfo((1L << 30) - 512, 1L << 30), d.memoryInfo());
            a.close();
            c.close();
            assertEquals(0, d.live());
            d.resetPeak();
            assertEquals(0, d.peak());
        }
    }

    @Test
    void categoriesNestAndCountAllocations() {
        try (PlanningDevice d = new PlanningDevice()) {
            try (var w = d.category("weights")) {
                d.allocate(1000);                  // 1024
                try (var s = d.category("scratch")) {
                    d.allocate(10);                // 256
                }
                d.allocate(256);
            }
            d.allocate(1);
            assertEquals(Map.of("weights", 1280L, "scratch", 256L, "uncategorised", 256L), d.allocatedByCategory());
            var outer = d.category("a");
            d.category("b");
            assertThrows(IllegalStateException.class, outer::close);
        }
    }

    @Test
    void copiesAndFillsAreFreeMathIsRefused() {
        try (PlanningDevice d = new PlanningDevice(); Tensor t = Tensor.allocate(d, DType.F32, 4, 4)) {
            d.copyToDevice(MemorySegment.ofArray(new float[16]), t.buffer());
            d.memset(t.buffer(), (byte) 0);
            d.copy(t.buffer(), t.buffer());
            BasicOps.fill(t, 1f);                  // constructors initialise with fill: ignored
            DeviceException add = assertThrows(DeviceException.class, () -> BasicOps.add(t, t, t));
            assertTrue(add.getMessage().contains("planning device") && add.getMessage().contains("add"), add.getMessage());
            assertThrows(DeviceException.class, () -> d.gemm(new GemmParams(false, false, 4, 4, 4, 1f, t, 4, 0, t, 4, 0, 0f, t, 4, 0, 1)));
            assertThrows(DeviceException.class, () -> t.toFloats());
        }
    }
}
