package dev.sumi.device;

import java.util.Map;
import java.util.TreeMap;

/**
 * One device allocation carved into buffers: made once from a memory plan, so that nothing is
 * allocated from the device inside a training step. Best fit over a free list of 256-byte aligned
 * ranges, coalesced on release. A buffer from the arena is given back by closing it (or the Tensor
 * over it); closing the arena frees the whole block and invalidates every buffer cut from it.
 */
public final class DeviceArena implements AutoCloseable {
    public static final long ALIGNMENT = 256;

    private final String name;
    private final DeviceBuffer block;
    private final TreeMap<Long, Long> free = new TreeMap<>();   // offset -> length, disjoint, never adjacent
    private long used;
    private long peak;

    private DeviceArena(String name, DeviceBuffer block) {
        this.name = name;
        this.block = block;
        if (block.bytes() > 0) free.put(0L, block.bytes());
    }

    /** Allocates {@code capacity} bytes on {@code device} (rounded up to the alignment). */
    public static DeviceArena create(Device device, String name, long capacity) {
        if (capacity < 0) throw new IllegalArgumentException("arena " + name + ": negative capacity " + capacity);
        return new DeviceArena(name, device.allocate(align(capacity)));
    }

    static long align(long bytes) {
        return Math.addExact(bytes, ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }

    /** A buffer of {@code bytes} from the arena; throws {@link OutOfDeviceMemoryException} naming the arena when no free range fits. */
    public synchronized DeviceBuffer allocate(long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("arena " + name + ": negative size " + bytes);
        if (block.isFreed()) throw new IllegalStateException("arena " + name + " is closed");
        long need = Math.max(ALIGNMENT, align(bytes));
        Map.Entry<Long, Long> best = null;
        for (Map.Entry<Long, Long> e : free.entrySet()) {
            if (e.getValue() >= need && (best == null || e.getValue() < best.getValue())) best = e;
        }
        if (best == null) {
            throw new OutOfDeviceMemoryException("arena " + name + " (largest free range " + largestFree() + " bytes)",
                    bytes, capacity() - used, capacity());
        }
        long offset = best.getKey(), length = best.getValue();
        free.remove(offset);
        if (length > need) free.put(offset + need, length - need);
        used += need;
        peak = Math.max(peak, used);
        final long reserved = need;
        return block.releasableSlice(offset, bytes, b -> release(offset, reserved));
    }

    private synchronized void release(long offset, long length) {
        if (block.isFreed()) return;
        used -= length;
        long start = offset, end = offset + length;
        Map.Entry<Long, Long> before = free.floorEntry(offset);
        if (before != null && before.getKey() + before.getValue() == start) {
            start = before.getKey();
            free.remove(before.getKey());
        }
        Long after = free.get(end);
        if (after != null) {
            free.remove(end);
            end += after;
        }
        free.put(start, end - start);
    }

    public long capacity() {
        return block.bytes();
    }

    public synchronized long used() {
        return used;
    }

    /** The most bytes in use at once since the arena was made: what a memory plan must provide. */
    public synchronized long peak() {
        return peak;
    }

    public synchronized long largestFree() {
        return free.values().stream().mapToLong(Long::longValue).max().orElse(0);
    }

    public Device device() {
        return block.device();
    }

    @Override
    public void close() {
        block.close();
    }
}
