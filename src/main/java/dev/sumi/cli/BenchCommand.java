package dev.sumi.cli;

import dev.sumi.bench.DevicePeaks;
import dev.sumi.bench.GemmBench;
import dev.sumi.bench.GenerateBench;
import dev.sumi.bench.OpsBench;
import dev.sumi.bench.KernelBench;
import dev.sumi.bench.OpenBench;
import dev.sumi.util.Bytes;
import dev.sumi.device.Device;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.sample.SamplerKind;
import dev.sumi.tensor.DType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.Locale;

/** Throughput benchmarks (never timed tests). Without a subcommand: the GEMM benchmark. */
@Command(name = "bench", description = "Benchmarks: GEMM, kernels, checkpoint opening, the training ops and image generation on the chosen device.",
        subcommands = {BenchCommand.Gemm.class, BenchCommand.Kernels.class, BenchCommand.Open.class, BenchCommand.Ops.class, BenchCommand.UNetStep.class,
                BenchCommand.Generate.class})
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

    @Command(name = "ops", description = "Every training op forward and backward at SD 1.5 UNet shapes: ms, TFLOP/s or GB/s, fraction of peak.")
    static final class Ops implements java.util.concurrent.Callable<Integer> {
        @picocli.CommandLine.Mixin
        DeviceOption device;

        @Option(names = "--batch", split = ",", defaultValue = "1", description = "Batch sizes, e.g. 1,4 (default ${DEFAULT-VALUE}).")
        List<Integer> batches;

        @Option(names = "--resolution", description = "Image size; the latent is resolution / 8 (default 512 on a GPU, 256 on the host, 64 with --quick).")
        Integer resolution;

        @Option(names = "--dtype", defaultValue = "BF16", description = "Storage type: BF16, F16 or F32 (default ${DEFAULT-VALUE}).")
        DType dtype;

        @Option(names = "--reps", description = "Timed repetitions, the median is reported (default 10 on a GPU, 3 on the host, 1 with --quick).")
        Integer reps;

        @Option(names = "--warmup", description = "Untimed runs before the timed ones (default 2 on a GPU, 1 on the host).")
        Integer warmup;

        @Option(names = "--ops", split = ",", description = "Only the ops whose names contain one of these (e.g. conv,attn).")
        List<String> ops;

        @Option(names = "--quick", description = "Small and fast: resolution 64, one rep, small peak probes (a smoke test, not a measurement).")
        boolean quick;

        @Option(names = "--json", description = "Print one JSON object instead of the table.")
        boolean json;

        @Override
        public Integer call() {
            try (Device d = device.open()) {
                boolean host = d.kind() == Device.Kind.HOST;
                int res = resolution != null ? resolution : quick ? 64 : host ? 256 : 512;
                int r = reps != null ? reps : quick ? 1 : host ? 3 : 10;
                int w = warmup != null ? warmup : host || quick ? 1 : 2;
                List<String> filter = ops == null ? List.of() : ops;
                for (String f : filter) {
                    if (OpsBench.opNames().stream().noneMatch(n -> OpsBench.selectedByOne(n, f))) {
                        throw new IllegalArgumentException("bench ops: --ops " + f + " matches no op; the ops are " + String.join(", ", OpsBench.opNames()));
                    }
                }
                List<OpsBench.Config> configs = new java.util.ArrayList<>();
                for (int b : batches) configs.add(new OpsBench.Config(b, res, dtype, r, w, filter));
                DevicePeaks.Peak peak = quick ? OpsBench.peak(d, dtype, 256, 1L << 21, 1) : OpsBench.peak(d, dtype, 512, host ? 1L << 25 : 1L << 28, 5);
                if (!json) {
                    System.out.printf(Locale.ROOT, "ops on %s, %s, %dx%d (latent %dx%d), median of %d after %d warm-up%n", d.name(), dtype, res, res,
                            res / 8, res / 8, r, w);
                    System.out.println("peak: " + peak.description());
                    System.out.println(OpsBench.header());
                }
                List<Object> rows = new java.util.ArrayList<>();
                for (OpsBench.Config c : configs) {
                    OpsBench.run(d, c, res1 -> {
                        if (json) rows.add(OpsBench.json(res1, peak));
                        else System.out.println(OpsBench.row(res1, peak));
                    });
                }
                if (json) {
                    java.util.Map<String, Object> out = new java.util.LinkedHashMap<>();
                    out.put("tool", "sumi");
                    out.put("device", d.name());
                    out.put("dtype", dtype.name());
                    out.put("resolution", res);
                    out.put("reps", r);
                    out.put("warmup", w);
                    out.put("peak", peak.description());
                    out.put("peak_flops", peak.flops());
                    out.put("peak_bytes_per_second", peak.bytesPerSecond());
                    out.put("results", rows);
                    System.out.println(dev.sumi.util.JsonOut.write(out));
                }
            }
            return 0;
        }
    }

    @Command(name = "unet", description = "Load a checkpoint's UNet and time one forward (and backward) at a resolution.")
    static final class UNetStep implements java.util.concurrent.Callable<Integer> {
        @picocli.CommandLine.Parameters(paramLabel = "MODEL", description = "A checkpoint or diffusers folder.")
        java.nio.file.Path model;

        @Option(names = "--resolution", defaultValue = "256", description = "Image size in pixels (default ${DEFAULT-VALUE}).")
        int resolution;

        @Option(names = "--batch", defaultValue = "1", description = "Batch size (default ${DEFAULT-VALUE}).")
        int batch;

        @Option(names = "--dtype", defaultValue = "F32", description = "F32, F16 or BF16 (default ${DEFAULT-VALUE}).")
        DType dtype;

        @Option(names = "--forward-only", description = "Skip the backward pass.")
        boolean forwardOnly;

        @Option(names = "--frozen", description = "No parameter gradients (as sampling and LoRA training's base UNet); default: every Linear's.")
        boolean frozen;

        @Option(names = "--checkpointed", description = "Gradient checkpointing (the backward re-runs each module's forward).")
        boolean checkpointed;

        @Option(names = "--reps", defaultValue = "1", description = "Passes; above 1 the first is a warm-up and the median of the rest is reported (default ${DEFAULT-VALUE}).")
        int reps;

        @Option(names = "--profile", description = "On the host device: time per kernel and GEMM over the timed passes.")
        boolean profile;

        @picocli.CommandLine.Mixin
        DeviceOption device;

        @Override
        public Integer call() throws Exception {
            try (Device d = device.open()) {
                var options = new dev.sumi.bench.UNetBench.Options(dtype, batch, resolution, !forwardOnly, frozen, checkpointed, reps, profile);
                dev.sumi.bench.UNetBench.Result r = dev.sumi.bench.UNetBench.run(model, d, options);
                System.out.printf(Locale.ROOT, "unet %s on %s, %s, batch %d, %dpx%s: load %.1f s, forward %.3f s, backward %s%s; outputs %s; device memory %s%n",
                        r.family(), d.name(), dtype, batch, resolution, (frozen ? ", frozen" : "") + (checkpointed ? ", checkpointed" : ""),
                        r.loadMs() / 1e3, r.forwardMs() / 1e3,
                        forwardOnly ? "skipped" : String.format(Locale.ROOT, "%.3f s", r.backwardMs() / 1e3),
                        reps > 1 ? " (median of " + r.timedReps() + ")" : "",
                        r.finite() ? "finite" : "NOT FINITE", Bytes.human(r.deviceBytesUsed()));
                if (r.profile() != null) {
                    long total = r.profile().entries().stream().mapToLong(dev.sumi.device.LaunchProfile.Entry::nanos).sum();
                    System.out.printf(Locale.ROOT, "  %-40s %8s %12s %12s %6s%n", "kernel (per pass)", "calls", "ms", "us/call", "share");
                    for (var e : r.profile().entries()) {
                        System.out.printf(Locale.ROOT, "  %-40s %8.0f %12.3f %12.1f %5.1f%%%n", e.name(), (double) e.calls() / r.timedReps(),
                                e.nanos() / 1e6 / r.timedReps(), e.nanos() / 1e3 / e.calls(), 100.0 * e.nanos() / Math.max(1, total));
                    }
                    System.out.printf(Locale.ROOT, "  %-40s %8s %12.3f%n", "total in native calls", "", total / 1e6 / r.timedReps());
                }
                return r.finite() ? 0 : 1;
            }
        }
    }

    @Command(name = "generate", description = "Text to image: it/s (A1111's: sampler steps per second) and seconds per image; "
            + "without MODEL on a full-size SD1.5 with random weights it writes to a temporary file.")
    static final class Generate implements java.util.concurrent.Callable<Integer> {
        @picocli.CommandLine.Parameters(paramLabel = "MODEL", arity = "0..1", description = "A checkpoint or diffusers folder (default: --random sd15).")
        java.nio.file.Path model;

        @Option(names = "--random", description = "Write a random-weight model and use it: sd15 (full size, ~2 GiB) or tiny (default sd15 without MODEL).")
        String random;

        @Option(names = "--work-dir", description = "Where the random model is written and deleted (default: the system temp folder).")
        java.nio.file.Path workDir;

        @Option(names = "--resolution", defaultValue = "512", description = "Image width and height (default ${DEFAULT-VALUE}).")
        int resolution;

        @Option(names = "--steps", defaultValue = "20", description = "Sampler steps (default ${DEFAULT-VALUE}).")
        int steps;

        @Option(names = "--sampler", defaultValue = "euler_a", description = "euler_a, euler, ddim or dpmpp_2m_karras (default ${DEFAULT-VALUE}).")
        String sampler;

        @Option(names = "--cfg-scale", defaultValue = "7", description = "Classifier-free guidance scale; 1 or less: no unconditional pass (default ${DEFAULT-VALUE}).")
        double cfgScale;

        @Option(names = "--batch", defaultValue = "1", description = "Images per generation (default ${DEFAULT-VALUE}).")
        int batch;

        @Option(names = "--dtype", description = "F16, BF16 or F32 (default F16 on a GPU, F32 on the host).")
        DType dtype;

        @Option(names = "--tokenizer", description = "CLIP tokenizer: a folder with vocab.json + merges.txt, or OpenAI's bpe_simple_vocab_16e6.txt.gz "
                + "(default: beside the model; a random model gets a small synthetic one).")
        java.nio.file.Path tokenizer;

        @Option(names = "--warmup", defaultValue = "1", description = "Untimed generations first (default ${DEFAULT-VALUE}).")
        int warmup;

        @Option(names = "--reps", defaultValue = "3", description = "Timed generations; medians are reported (default ${DEFAULT-VALUE}).")
        int reps;

        @Option(names = "--seed", defaultValue = "1", description = "Seed of the first image (default ${DEFAULT-VALUE}).")
        long seed;

        @Option(names = "--json", description = "Print one JSON object (the keys scripts/bench-generate compares).")
        boolean json;

        @picocli.CommandLine.Mixin
        DeviceOption device;

        @Override
        public Integer call() throws Exception {
            if (model != null && random != null) throw new IllegalArgumentException("bench generate: give MODEL or --random, not both");
            RandomCheckpoint.Arch arch = model != null ? null : switch (random == null ? "sd15" : random.toLowerCase(Locale.ROOT)) {
                case "sd15" -> RandomCheckpoint.Arch.SD15;
                case "tiny" -> RandomCheckpoint.Arch.TINY;
                default -> throw new IllegalArgumentException("bench generate: --random " + random + ": choose sd15 or tiny");
            };
            SamplerKind kind = SamplerKind.parse(sampler);
            try (Device d = device.open()) {
                DType type = dtype != null ? dtype : d.kind() == Device.Kind.CUDA ? DType.F16 : DType.F32;
                var config = new GenerateBench.Config(kind, resolution, steps, cfgScale, batch, type, warmup, reps, seed);
                if (arch == null) return run(d, config, model, model.toString(), tokenizer != null ? tokenizer.toString() : "beside the model");
                java.nio.file.Path folder = GenerateBench.newFolder(workDir != null ? workDir : java.nio.file.Path.of(System.getProperty("java.io.tmpdir")));
                // a run stopped by SIGTERM or Ctrl-C (a timeout) still deletes the 2 GiB it wrote
                Thread cleanup = new Thread(() -> {
                    try {
                        GenerateBench.deleteTree(folder);
                    } catch (java.io.IOException e) {
                        System.err.println("bench generate: could not delete " + folder + ": " + e.getMessage());
                    }
                });
                Runtime.getRuntime().addShutdownHook(cleanup);
                try {
                    long t0 = System.nanoTime();
                    java.nio.file.Path file = GenerateBench.writeRandom(arch, folder);
                    String name = arch.name().toLowerCase(Locale.ROOT);
                    System.err.printf(Locale.ROOT, "bench generate: wrote a random %s in %.1f s: %s (%s)%n", name, (System.nanoTime() - t0) / 1e9, file,
                            Bytes.human(java.nio.file.Files.size(file)));
                    String tok = tokenizer != null ? tokenizer.toString() : arch == RandomCheckpoint.Arch.TINY ? "beside the model" : "synthetic";
                    return run(d, config, file, "random " + name, tok);
                } finally {
                    Runtime.getRuntime().removeShutdownHook(cleanup);
                    GenerateBench.deleteTree(folder);
                }
            }
        }

        private int run(Device d, GenerateBench.Config config, java.nio.file.Path file, String modelLabel, String tokenizerLabel)
                throws java.io.IOException {
            var tok = GenerateBench.tokenizer(file, tokenizer);
            var r = GenerateBench.run(file, modelLabel, tok, tokenizerLabel, d, config, m -> System.err.println("bench generate: " + m));
            System.out.println(json ? dev.sumi.util.JsonOut.write(GenerateBench.json(r, config, d)) : GenerateBench.describe(r, config, d));
            return r.finite() ? 0 : 1;
        }
    }
}
