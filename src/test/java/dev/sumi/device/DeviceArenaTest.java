package dev.sumi.device;

import dev.sumi.ops.BasicOps;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DeviceArenaTest {

    @Test
    void freedNeighboursCoalesce() {
        try (DeviceArena arena = DeviceArena.create(Devices.host(), "test", 4 * 1024)) {
            DeviceBuffer a = arena.allocate(1024), b = arena.allocate(1000), c = arena.allocate(1024), d = arena.allocate(1024);
            assertEquals(4096, arena.used());
            assertThrows(OutOfDeviceMemoryException.class, () -> arena.allocate(1));
            b.close();
            c.close();
            c.close();  // twice is fine
            DeviceBuffer bc = arena.allocate(2048);  // only fits if b and c merged
            assertEquals(a.address() + 1024, bc.address());
            a.close();
            bc.close();
            d.close();
            assertEquals(0, arena.used());
            assertEquals(4096, arena.largestFree());
            assertEquals(4096, arena.peak());
        }
    }

    @Test
    void outOfArenaMemoryNamesTheArena() {
        try (DeviceArena arena = DeviceArena.create(Devices.host(), "activations", 1 << 20)) {
            OutOfDeviceMemoryException e = assertThrows(OutOfDeviceMemoryException.class, () -> arena.allocate(2 << 20));
            assertTrue(e.getMessage().contains("arena activations") && e.getMessage().contains("asked 2.0 MiB"), e.getMessage());
        }
    }

    @Test
    void randomAllocationsNeverOverlapAndAllComeBack() {
        Random r = new Random(7);
        long capacity = 1 << 20;
        try (DeviceArena arena = DeviceArena.create(Devices.host(), "stress", capacity)) {
            List<DeviceBuffer> live = new ArrayList<>();
            for (int step = 0; step < 5000; step++) {
                if (!live.isEmpty() && (r.nextBoolean() || arena.largestFree() < 64 * 1024)) {
                    live.remove(r.nextInt(live.size())).close();
                } else {
                    live.add(arena.allocate(1 + r.nextInt(64 * 1024)));
                }
                if (step % 250 == 0) {
                    List<DeviceBuffer> sorted = new ArrayList<>(live);
                    sorted.sort((x, y) -> Long.compare(x.address(), y.address()));
                    for (int i = 1; i < sorted.size(); i++) {
                        assertTrue(sorted.get(i - 1).address() + sorted.get(i - 1).bytes() <= sorted.get(i).address(), "overlap at step " + step);
                    }
                    for (DeviceBuffer b : live) assertEquals(0, b.address() % DeviceArena.ALIGNMENT);
                }
            }
            live.forEach(DeviceBuffer::close);
            assertEquals(0, arena.used());
            assertEquals(capacity, arena.largestFree());
        }
    }

    @Test
    void tensorsLiveInTheArenaAndKernelsWriteThem() {
        try (DeviceArena arena = DeviceArena.create(Devices.host(), "tensors", 1 << 16)) {
            Tensor t = Tensor.wrap(arena.allocate(1000 * 4), DType.F32, 1000);
            BasicOps.fill(t, 3f);
            assertEquals(3000f, BasicOps.reduce(t, BasicOps.Reduction.SUM));
            t.close();
            assertEquals(0, arena.used());
            assertThrows(IllegalStateException.class, t::toFloats);
        }
    }

    @Test
    void closingTheArenaInvalidatesItsBuffers() {
        DeviceArena arena = DeviceArena.create(Devices.host(), "closing", 4096);
        DeviceBuffer b = arena.allocate(100);
        arena.close();
        assertTrue(b.isFreed());
        assertThrows(IllegalStateException.class, b::address);
        assertThrows(IllegalStateException.class, () -> arena.allocate(10));
    }
}
