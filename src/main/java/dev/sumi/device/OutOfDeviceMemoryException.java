package dev.sumi.device;

import dev.sumi.util.Bytes;

/** An allocation that does not fit: says what was asked and what was left. */
public final class OutOfDeviceMemoryException extends DeviceException {
    public final long requested;
    public final long free;

    public OutOfDeviceMemoryException(String where, long requested, long free, long total) {
        super(where + ": out of memory: asked " + Bytes.human(requested) + " (" + requested + " bytes), "
                + Bytes.human(free) + " free of " + Bytes.human(total));
        this.requested = requested;
        this.free = free;
    }
}
