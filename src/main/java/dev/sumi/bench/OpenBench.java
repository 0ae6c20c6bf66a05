package dev.sumi.bench;

import dev.sumi.device.Device;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.WeightLoader;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What opening a checkpoint costs: time and resident memory to map, validate, list and recognise it
 * (nothing but the header should be read), then optionally the time to stream every weight onto a
 * device, converting to the dtype asked for.
 */
public final class OpenBench {
    private OpenBench() {}

    public record Result(int tensors, String family, double openMs, long rssBefore, long rssAfterOpen,
                         double loadMs, long loadedBytes, long rssAfterLoad) {}

    public static Result run(Path file, Device device, DType loadAs) throws IOException {
        long rss0 = residentBytes();
        long t0 = System.nanoTime();
        try (Checkpoint c = Checkpoint.open(file, null)) {
            double openMs = (System.nanoTime() - t0) / 1e6;
            long rss1 = residentBytes();
            double loadMs = 0;
            long bytes = 0, rss2 = rss1;
            if (device != null) {
                List<Tensor> loaded = new ArrayList<>();
                long t1 = System.nanoTime();
                try {
                    for (String key : c.tensors().keySet()) {
                        if (key.endsWith("position_ids")) continue;
                        Tensor t = WeightLoader.load(c, key, device, loadAs);
                        bytes += t.bytes();
                        loaded.add(t);
                    }
                    device.synchronize();
                    loadMs = (System.nanoTime() - t1) / 1e6;
                    rss2 = residentBytes();
                } finally {
                    loaded.forEach(Tensor::close);
                }
            }
            return new Result(c.tensors().size(), c.architecture().family(), openMs, rss0, rss1, loadMs, bytes, rss2);
        }
    }

    /** VmRSS of this process (Linux), or -1 where /proc is not there. */
    public static long residentBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }
}
