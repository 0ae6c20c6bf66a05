package dev.sumi.device;

import java.util.function.Consumer;

/**
 * A range of device memory: {@code bytes} bytes at {@code address} on {@code device}.
 * The address is a CUdeviceptr on a GPU and a native address on the host device.
 * A buffer made by {@link Device#allocate} owns its memory and frees it on {@link #close()};
 * a {@link #slice} shares its parent's memory and its close() does nothing, except a slice handed out
 * by a {@link DeviceArena}, whose close() gives it back to the arena.
 */
public final class DeviceBuffer implements AutoCloseable {
    private final Device device;
    private final long address;
    private final long bytes;
    private final DeviceBuffer parent;   // null for an owning buffer
    final Object handle;                 // the device's own record of the allocation (CUdeviceptr, Arena)
    private final Consumer<DeviceBuffer> release;  // slices from an arena: gives the range back
    private volatile boolean freed;

    DeviceBuffer(Device device, long address, long bytes, Object handle) {
        this(device, address, bytes, null, handle);
    }

    private DeviceBuffer(Device device, long address, long bytes, DeviceBuffer parent, Object handle) {
        this(device, address, bytes, parent, handle, null);
    }

    private DeviceBuffer(Device device, long address, long bytes, DeviceBuffer parent, Object handle, Consumer<DeviceBuffer> release) {
        this.device = device;
        this.address = address;
        this.bytes = bytes;
        this.parent = parent;
        this.handle = handle;
        this.release = release;
    }

    /** For device implementations outside this package. */
    public static DeviceBuffer owning(Device device, long address, long bytes, Object handle) {
        return new DeviceBuffer(device, address, bytes, handle);
    }

    public Device device() {
        return device;
    }

    public long address() {
        checkLive();
        return address;
    }

    public long bytes() {
        return bytes;
    }

    public Object handle() {
        return parent == null ? handle : parent.handle();
    }

    public boolean isOwning() {
        return parent == null;
    }

    /** Bytes [offset, offset + length) of this buffer, sharing its memory. */
    public DeviceBuffer slice(long offset, long length) {
        if (offset < 0 || length < 0 || offset > bytes - length) {
            throw new IndexOutOfBoundsException("slice [" + offset + ", " + offset + "+" + length + ") of a buffer of " + bytes + " bytes");
        }
        return new DeviceBuffer(device, address + offset, length, this, null);
    }

    /** A slice whose close() calls {@code release} once; used by {@link DeviceArena}. */
    DeviceBuffer releasableSlice(long offset, long length, Consumer<DeviceBuffer> release) {
        DeviceBuffer s = slice(offset, length);
        return new DeviceBuffer(device, s.address, s.bytes, this, null, release);
    }

    public boolean isFreed() {
        return freed || (parent != null && parent.isFreed());
    }

    void checkLive() {
        if (isFreed()) throw new IllegalStateException("use of a freed device buffer (" + bytes + " bytes on " + device.name() + ")");
    }

    /** Marks an owning buffer freed; returns false if it already was. Called by the device. */
    public boolean markFreed() {
        if (parent != null) return false;
        synchronized (this) {
            if (freed) return false;
            freed = true;
            return true;
        }
    }

    @Override
    public void close() {
        if (parent == null) {
            if (!freed) device.free(this);
        } else if (release != null) {
            synchronized (this) {
                if (freed) return;
                freed = true;
            }
            release.accept(this);
        }
    }

    @Override
    public String toString() {
        return "DeviceBuffer[" + bytes + " bytes @0x" + Long.toHexString(address) + " on " + device.name() + "]";
    }
}
