package dev.sumi.device;

import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.Collections;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A device that allocates nothing: {@code sumi plan} builds the real networks on it to learn, exactly,
 * how many bytes of device memory they take. Buffers get fake, never-overlapping addresses; every
 * allocation is rounded as {@link HostDevice} rounds it (up to a multiple of 256 bytes, at least 256)
 * and counted live, at peak, and under the {@linkplain #category current category}. Copies and memsets
 * do nothing (so {@code WeightLoader} works on it); a launch of a {@code fill_*} kernel (how constructors
 * initialise their buffers) is ignored like a memset; any other launch, and every GEMM, throws:
 * planning never runs math.
 */
public final class PlanningDevice implements Device {

    public static final int ALIGNMENT = 256;
    private static final long BASE = 1L << 40;   // fake addresses start at 1 TiB and only grow

    private final long capacity;
    private long nextAddress = BASE;
    private long live, peak;
    private final Deque<String> categories = new ArrayDeque<>();
    private final Map<String, Long> byCategory = new LinkedHashMap<>();
    private boolean closed;

    /** {@code capacity}: what {@link #memoryInfo} reports as total (planning never refuses an allocation). */
    public PlanningDevice(long capacity) {
        this.capacity = capacity;
        categories.push("uncategorised");
    }

    public PlanningDevice() {
        this(Long.MAX_VALUE);
    }

    /** The bytes an allocation of {@code bytes} takes: rounded up to 256, at least 256. */
    public static long rounded(long bytes) {
        return Math.max(ALIGNMENT, (bytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT);
    }

    /** Attributes allocations to {@code name} until the returned scope is closed; scopes nest. */
    public synchronized Scope category(String name) {
        categories.push(name);
        byCategory.putIfAbsent(name, 0L);
        return new Scope(name);
    }

    public final class Scope implements AutoCloseable {
        private final String name;
        private boolean closed;

        private Scope(String name) {
            this.name = name;
        }

        @Override
        public void close() {
            synchronized (PlanningDevice.this) {
                if (closed) return;
                if (!categories.peek().equals(name)) throw new IllegalStateException("category scopes closed out of order: " + name);
                categories.pop();
                closed = true;
            }
        }
    }

    /** Bytes allocated (rounded) and not yet freed. */
    public synchronized long live() {
        return live;
    }

    /** The most bytes ever live at once. */
    public synchronized long peak() {
        return peak;
    }

    /** Bytes allocated (rounded) under each category, in first-use order; frees do not subtract. */
    public synchronized Map<String, Long> allocatedByCategory() {
        Map<String, Long> m = new LinkedHashMap<>();
        byCategory.forEach((k, v) -> { if (v > 0 || !k.equals("uncategorised")) m.put(k, v); });
        return Collections.unmodifiableMap(m);
    }

    public synchronized void resetPeak() {
        peak = live;
    }

    @Override
    public String name() {
        return "planning (allocates nothing)";
    }

    @Override
    public Kind kind() {
        return Kind.HOST;
    }

    @Override
    public synchronized DeviceBuffer allocate(long bytes) {
        if (closed) throw new IllegalStateException("planning device is closed");
        if (bytes < 0) throw new IllegalArgumentException("allocate: negative size " + bytes);
        long r = rounded(bytes);
        long address = nextAddress;
        nextAddress = Math.addExact(nextAddress, r);
        live += r;
        peak = Math.max(peak, live);
        byCategory.merge(categories.peek(), r, Long::sum);
        return DeviceBuffer.owning(this, address, bytes, categories.peek());
    }

    @Override
    public synchronized void free(DeviceBuffer buffer) {
        mine(buffer, "free");
        if (!buffer.isOwning()) throw new IllegalArgumentException("free of a slice; free its parent");
        if (buffer.markFreed()) live -= rounded(buffer.bytes());
    }

    @Override
    public void copyToDevice(MemorySegment src, DeviceBuffer dst) {
        mine(dst, "copyToDevice");
    }

    @Override
    public void copyToHost(DeviceBuffer src, MemorySegment dst) {
        throw refused("copyToHost");
    }

    @Override
    public void copy(DeviceBuffer src, DeviceBuffer dst) {
        mine(src, "copy");
        mine(dst, "copy");
    }

    @Override
    public void memset(DeviceBuffer dst, byte value) {
        mine(dst, "memset");
    }

    @Override
    public Kernel kernel(String name) {
        return new Kernel(new KernelSignature(name, List.of(), false, "planning"), name);
    }

    @Override
    public void launch(Kernel kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        if (kernel.name().startsWith("fill_")) return;   // initialisation, a memset in all but name
        throw refused("kernel " + kernel.name());
    }

    @Override
    public void gemm(GemmParams params) {
        throw refused("gemm");
    }

    @Override
    public void synchronize() {}

    @Override
    public synchronized MemoryInfo memoryInfo() {
        return new MemoryInfo(Math.max(0, capacity - live), capacity);
    }

    @Override
    public synchronized void close() {
        closed = true;
    }

    private void mine(DeviceBuffer b, String op) {
        if (b.device() != this) throw new DeviceException(op + ": buffer belongs to " + b.device().name() + ", not " + name());
        if (b.isFreed()) throw new IllegalStateException(op + ": buffer was freed");
    }

    private static DeviceException refused(String what) {
        return new DeviceException(what + ": the planning device only counts allocations; it runs no math and holds no data");
    }
}
