package dev.sumi.device;

/** Device memory as the device sees it: bytes free for new allocations and bytes in total. */
public record MemoryInfo(long free, long total) {}
