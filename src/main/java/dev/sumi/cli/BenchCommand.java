package dev.sumi.cli;

import dev.sumi.bench.GemmBench;
import dev.sumi.bench.KernelBench;
import dev.sumi.bench.OpenBench;
import dev.sumi.util.Bytes;
import dev.sumi.device.Device;
import dev.sumi.tensor.DType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.Locale;

/** Throughput benchmarks (never timed tests). Without a subcommand: the GEMM benchmark. */
@Command(name = "bench", description = "Benchmarks: GEMM throughput on the chosen device (more come with the ops and training).",
        subcommands = {BenchCommand.Gemm.class, BenchCommand.Kernels.class, BenchCommand.Open.class})
public final class BenchCommand implements java.util.concurrent.Callable<Integer> {

    @Override
    public Integer call() {
        return new picocli.CommandLine(new Gemm()).execute();
    }

    @Command(name = "gemm", description = "GFLOP/s of Device.gemm for square sizes and each input type.")
    static final class Gemm implements java.util.concurrent.Callable<Integer> {
        @picocli.CommandLine.Mixin
        DeviceOption device;

        @Option(names = "--sizes", split = ",", defaultValue = "256,512,1024", description = "Square sizes m = n = k (default ${DEFAULT-VALUE}).")
        List<Integer> sizes;

        @Option(names = "--types", split = ",", defaultValue = "F32,BF16,F16", description = "Input types; C has the same type (default ${DEFAULT-VALUE}).")
        List<DType> types;

        @Option(names = "--reps", defaultValue = "5", description = "Timed repetitions; the median is reported (default ${DEFAULT-VALUE}).")
        int reps;

        @Override
        public Integer call() {
            try (Device d = device.open()) {
                System.out.println("gemm on " + d.name() + " (median of " + reps + ", F32 accumulate)");
                System.out.printf(Locale.ROOT, "  %-6s %6s %10s %10s%n", "type", "size", "ms", "GFLOP/s");
                for (DType t : types) {
                    for (int s : sizes) {
                        GemmBench.Result r = GemmBench.run(d, t, t, s, s, s, 1, reps);
                        System.out.printf(Locale.ROOT, "  %-6s %6d %10.3f %10.1f%n", t, s, r.ms(), r.gflops());
                    }
                }
            }
            return 0;
        }
    }

    @Command(name = "kernels", description = "GB/s of the elementwise, softmax and reduction kernels.")
    static final class Kernels implements java.util.concurrent.Callable<Integer> {
        @picocli.CommandLine.Mixin
        DeviceOption device;

        @Option(names = "--elements", defaultValue = "4194304", description = "Elements per tensor (default ${DEFAULT-VALUE}).")
        long elements;

        @Option(names = "--types", split = ",", defaultValue = "F32,BF16", description = "Storage types (default ${DEFAULT-VALUE}).")
        List<DType> types;

        @Option(names = "--reps", defaultValue = "5", description = "Timed repetitions; the median is reported (default ${DEFAULT-VALUE}).")
        int reps;

        @Override
        public Integer call() {
            try (Device d = device.open()) {
                System.out.println("kernels on " + d.name() + " (" + elements + " elements, median of " + reps + ")");
                System.out.printf(Locale.ROOT, "  %-20s %-6s %10s %10s%n", "op", "type", "ms", "GB/s");
                for (DType t : types) {
                    for (KernelBench.Result r : KernelBench.run(d, t, elements, reps)) {
                        System.out.printf(Locale.ROOT, "  %-20s %-6s %10.3f %10.2f%n", r.op(), r.type(), r.ms(), r.gbPerSecond());
                    }
                }
            }
            return 0;
        }
    }

    @Command(name = "open", description = "Time and resident memory to open a checkpoint; with --load, to stream it onto a device.")
    static final class Open implements java.util.concurrent.Callable<Integer> {
        @picocli.CommandLine.Parameters(paramLabel = "FILE|FOLDER", description = "A checkpoint or diffusers folder.")
        java.nio.file.Path path;

        @Option(names = "--load", description = "Also load every tensor onto the device.")
        boolean load;

        @Option(names = "--dtype", defaultValue = "BF16", description = "Type the weights are loaded as (default ${DEFAULT-VALUE}).")
        DType dtype;

        @picocli.CommandLine.Mixin
        DeviceOption device;

        @Override
        public Integer call() throws Exception {
            Device d = load ? device.open() : null;
            try {
                OpenBench.Result r = OpenBench.run(path, d, dtype);
                System.out.printf(Locale.ROOT, "open %s: %s, %d tensors in %.1f ms; resident memory %s -> %s%n", path, r.family(), r.tensors(),
                        r.openMs(), Bytes.human(r.rssBefore()), Bytes.human(r.rssAfterOpen()));
                if (d != null) {
                    System.out.printf(Locale.ROOT, "load onto %s as %s: %s in %.0f ms (%.2f GB/s); resident memory %s%n", d.name(), dtype,
                            Bytes.human(r.loadedBytes()), r.loadMs(), r.loadedBytes() / (r.loadMs() * 1e6), Bytes.human(r.rssAfterLoad()));
                }
            } finally {
                if (d != null) d.close();
            }
            return 0;
        }
    }
}
