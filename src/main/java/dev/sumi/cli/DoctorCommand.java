package dev.sumi.cli;

import dev.sumi.bench.GemmBench;
import dev.sumi.device.CudaDevice;
import dev.sumi.device.CudaProbe;
import dev.sumi.device.Device;
import dev.sumi.device.HostDevice;
import dev.sumi.device.SelfTest;
import dev.sumi.tensor.DType;
import dev.sumi.util.Bytes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Locale;

/** What this machine can run sumi on, and why not where it cannot. */
@Command(name = "doctor", description = "Check the JDK, the host device, CUDA driver, GPUs, cuBLAS and kernels.")
public final class DoctorCommand implements java.util.concurrent.Callable<Integer> {

    @Option(names = "--gemm-size", defaultValue = "1024", description = "Size of the square GEMM timed on the host (default ${DEFAULT-VALUE}).")
    int gemmSize;

    @Override
    public Integer call() {
        System.out.println(new Main.Version().getVersion()[0] + " doctor");
        section("system");
        Runtime rt = Runtime.getRuntime();
        row("java", System.getProperty("java.version") + " (" + System.getProperty("java.vendor") + ") at " + System.getProperty("java.home"));
        String memory;
        try {
            var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            memory = Bytes.human(os.getTotalMemorySize()) + " memory, " + Bytes.human(os.getFreeMemorySize()) + " free";
        } catch (Throwable t) {
            memory = "memory unknown";
        }
        row("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch")
                + ", " + rt.availableProcessors() + " cores, " + memory);

        section("host device");
        boolean hostOk = false;
        try (HostDevice host = HostDevice.open()) {
            row("library", host.libraryPath() + " (" + host.buildInfo() + ")");
            row("threads", Integer.toString(host.threads()));
            hostOk = selfTest(host);
            row("gemm", gemmLine(host, DType.F32) + "; " + gemmLine(host, DType.BF16) + " (" + host.gemmIsa() + ")");
        } catch (RuntimeException e) {
            row("unusable", Main.oneLine(e));
        }

        section("cuda");
        CudaProbe.CudaReport cuda = CudaProbe.probe();
        for (String line : cuda.lines()) System.out.println("  " + line);
        boolean gpuOk = false;
        if (cuda.usable()) {
            try (Device gpu = CudaDevice.open(0)) {
                gpuOk = selfTest(gpu);
            } catch (RuntimeException e) {
                row("unusable", Main.oneLine(e));
            }
        }

        System.out.println();
        if (gpuOk) {
            System.out.println("verdict: ready: training runs on the GPU" + (hostOk ? "; the host device works too" : ""));
        } else if (hostOk) {
            System.out.println("verdict: ready on the CPU (host device): " + (cuda.usable() ? "the GPU failed its self-test" : cuda.unusableReason())
                    + "; training on the CPU is slow");
        } else {
            System.out.println("verdict: not ready: no working device");
        }
        return hostOk || gpuOk ? 0 : 1;
    }

    private static boolean selfTest(Device d) {
        List<SelfTest.Check> checks = SelfTest.run(d);
        long passed = checks.stream().filter(SelfTest.Check::passed).count();
        row("self-test", passed + "/" + checks.size() + " passed on " + d.name());
        for (SelfTest.Check c : checks) if (!c.passed()) row("  FAILED", c.name() + ": " + c.detail());
        return passed == checks.size();
    }

    private String gemmLine(Device d, DType t) {
        GemmBench.Result r = GemmBench.run(d, t, t, gemmSize, gemmSize, gemmSize, 1, 3);
        return String.format(Locale.ROOT, "%s %d^3 %.1f GFLOP/s", t, gemmSize, r.gflops());
    }

    static void section(String name) {
        System.out.println(name);
    }

    static void row(String key, String value) {
        System.out.printf(Locale.ROOT, "  %-10s %s%n", key, value);
    }
}
