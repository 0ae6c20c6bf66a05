package dev.sumi.device;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Calls and time per kernel (and "gemm") while a {@link HostDevice} profiles: where a host step spends its time. */
public final class LaunchProfile {
    /** One kernel's total: how many calls and how long they took together. */
    public record Entry(String name, long calls, long nanos) {}

    private final Map<String, long[]> totals = new LinkedHashMap<>();

    synchronized void add(String name, long nanos) {
        long[] t = totals.computeIfAbsent(name, k -> new long[2]);
        t[0]++;
        t[1] += nanos;
    }

    /** Every kernel seen, the most time first. */
    public synchronized List<Entry> entries() {
        List<Entry> out = new ArrayList<>();
        totals.forEach((name, t) -> out.add(new Entry(name, t[0], t[1])));
        out.sort(Comparator.comparingLong(Entry::nanos).reversed());
        return out;
    }
}
