package dev.sumi.device;

import dev.sumi.util.Bytes;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static jcuda.driver.JCudaDriver.*;

/**
 * Everything {@code sumi doctor} reports about CUDA: the driver (or why there is none), each GPU
 * with its memory and whether the bundled kernels run on it, and cuBLAS. {@link #probe()} never throws;
 * each part that fails says why in its own field.
 */
public final class CudaProbe {

    private CudaProbe() {}

    /** One GPU as the driver reports it. {@code freeBytes} is -1 when it could not be read ({@code problem} says why). */
    public record Gpu(int ordinal, String name, int ccMajor, int ccMinor, int multiprocessors,
                      long totalBytes, long freeBytes, Coverage kernels, String problem) {
        public String sm() {
            return "sm_" + ccMajor + ccMinor;
        }
    }

    /** Whether the bundled fatbin has code for a GPU, and which: "SASS sm_90", "PTX compute_120 (JIT)", or why not. */
    public record Coverage(boolean covered, String how) {}

    /**
     * @param driverVersion  "13.0", or null when the driver did not load
     * @param driverProblem  why CUDA is not usable at the driver level; null when the driver loaded and sees a GPU
     * @param kernelTargets  the fatbin's targets ("sm_75", ..., "compute_120"); null when the fatbin was not built
     */
    public record CudaReport(String driverVersion, String driverProblem, List<Gpu> gpus,
                             Cublas.Probe cublas, List<String> kernelTargets) {

        public CudaReport {
            gpus = List.copyOf(gpus);
            kernelTargets = kernelTargets == null ? null : List.copyOf(kernelTargets);
        }

        /** True when GPU 0 can run sumi: driver, kernels for it, and cuBLAS. */
        public boolean usable() {
            return unusableReason() == null;
        }

        /** Why the CUDA device cannot be used, in one line; null when it can. */
        public String unusableReason() {
            if (driverProblem != null) return driverProblem;
            if (gpus.isEmpty()) return "no GPU";
            Gpu g = gpus.getFirst();
            if (!g.kernels().covered()) return "the bundled kernels do not run on " + g.name() + ": " + g.kernels().how();
            if (!cublas.found()) return "cuBLAS " + cublas.reason();
            return null;
        }

        /** The report as text, one fact per line, for {@code sumi doctor}. */
        public List<String> lines() {
            List<String> out = new ArrayList<>();
            out.add("CUDA driver: " + (driverVersion != null ? driverVersion + " (" + CudaDevice.Driver.libraryName() + ")" : "none"));
            if (driverProblem != null) out.add("  " + driverProblem);
            for (Gpu g : gpus) {
                String mem = Bytes.human(g.totalBytes()) + " total"
                        + (g.freeBytes() >= 0 ? ", " + Bytes.human(g.freeBytes()) + " free" : "");
                out.add("GPU " + g.ordinal() + ": " + g.name() + ", compute capability " + g.ccMajor() + "." + g.ccMinor()
                        + ", " + g.multiprocessors() + " SMs, " + mem);
                out.add("  kernels: " + (g.kernels().covered() ? "" : "NOT COVERED: ") + g.kernels().how());
                if (g.problem() != null) out.add("  " + g.problem());
            }
            out.add("cuBLAS: " + (cublas.found() ? cublas.version() + " (" + cublas.path() + ")" : "not usable: " + cublas.reason()));
            out.add("CUDA kernels: " + (kernelTargets == null
                    ? "not built (no nvcc at build time)" : "fatbin for " + String.join(" ", kernelTargets)));
            String why = unusableReason();
            out.add("CUDA device: " + (why == null ? "usable (cuda:0)" : "not usable: " + why));
            return out;
        }
    }

    /** Probes the driver, the GPUs, cuBLAS and the bundled kernels. Never throws. */
    public static CudaReport probe() {
        List<String> targets;
        try {
            targets = bundledTargets();
        } catch (Throwable t) {
            targets = null;
        }
        Cublas.Probe blas;
        try {
            blas = Cublas.probe();
        } catch (Throwable t) {
            blas = new Cublas.Probe(false, null, null, "the cuBLAS probe failed: " + t);
        }
        CudaDevice.Driver.State s;
        try {
            s = CudaDevice.Driver.state();
        } catch (Throwable t) {
            return new CudaReport(null, "the CUDA driver could not be probed: " + CudaDevice.Driver.firstLine(t), List.of(), blas, targets);
        }
        String version = s.version() > 0 ? CudaDevice.Driver.versionString(s.version()) : null;
        if (s.problem() != null) return new CudaReport(version, s.problem(), List.of(), blas, targets);
        List<Gpu> gpus = new ArrayList<>();
        for (int i = 0; i < s.deviceCount(); i++) gpus.add(gpu(i, targets));
        String problem = s.deviceCount() == 0 ? CudaDevice.unavailableReason() : null;
        return new CudaReport(version, problem, gpus, blas, targets);
    }

    private static Gpu gpu(int ordinal, List<String> targets) {
        try {
            CUdevice dev = new CUdevice();
            CudaDevice.check(cuDeviceGet(dev, ordinal), "cuDeviceGet");
            byte[] buf = new byte[256];
            CudaDevice.check(cuDeviceGetName(buf, buf.length, dev), "cuDeviceGetName");
            int n = 0;
            while (n < buf.length && buf[n] != 0) n++;
            String name = new String(buf, 0, n, StandardCharsets.UTF_8).trim();
            int major = CudaDevice.attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
            int minor = CudaDevice.attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
            int sms = CudaDevice.attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
            long[] total = new long[1];
            CudaDevice.check(cuDeviceTotalMem(total, dev), "cuDeviceTotalMem");
            long free = -1;
            String problem = null;
            try {
                free = freeMemory(dev);
            } catch (RuntimeException e) {
                problem = "free memory unknown: " + e.getMessage();
            }
            return new Gpu(ordinal, name, major, minor, sms, total[0], free, coverage(targets, major, minor), problem);
        } catch (Throwable t) {
            return new Gpu(ordinal, "?", 0, 0, 0, 0, -1, new Coverage(false, "unknown"), "could not be queried: " + CudaDevice.Driver.firstLine(t));
        }
    }

    /** Free memory needs a context: retain the primary one, read, release, and leave the thread's context as it was. */
    private static long freeMemory(CUdevice dev) {
        CUcontext previous = new CUcontext();
        CudaDevice.check(cuCtxGetCurrent(previous), "cuCtxGetCurrent");
        CUcontext ctx = new CUcontext();
        CudaDevice.check(cuDevicePrimaryCtxRetain(ctx, dev), "cuDevicePrimaryCtxRetain");
        try {
            CudaDevice.check(cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
            long[] free = new long[1], total = new long[1];
            CudaDevice.check(cuMemGetInfo(free, total), "cuMemGetInfo");
            return free[0];
        } finally {
            cuCtxSetCurrent(previous);
            cuDevicePrimaryCtxRelease(dev);
        }
    }

    /** The targets in {@value CudaDevice#FATBIN_TARGETS}; null when the fatbin was not built. */
    public static List<String> bundledTargets() {
        if (CudaDevice.class.getResource(CudaDevice.FATBIN) == null) return null;
        byte[] t = CudaDevice.resource(CudaDevice.FATBIN_TARGETS);
        return t == null ? null : parseTargets(new String(t, StandardCharsets.UTF_8));
    }

    private static final Pattern TARGET = Pattern.compile("(sm|compute)_(\\d+)([a-z]?)");

    /** "sm_75 sm_80\ncompute_120" -> [sm_75, sm_80, compute_120]; '#' starts a comment; commas are separators too. */
    public static List<String> parseTargets(String text) {
        List<String> out = new ArrayList<>();
        for (String line : text.split("\\R")) {
            int hash = line.indexOf('#');
            if (hash >= 0) line = line.substring(0, hash);
            for (String tok : line.split("[\\s,]+")) {
                if (TARGET.matcher(tok).matches() && !out.contains(tok)) out.add(tok);
            }
        }
        return out;
    }

    /**
     * Whether a fatbin with {@code targets} runs on a GPU of compute capability {@code major.minor}, as the
     * driver decides: SASS for the exact sm; else SASS for the same major and a lower minor (binary
     * compatible, e.g. sm_80 code on sm_86); else PTX for a compute capability at or below the GPU's,
     * JIT-compiled by the driver. Arch-specific targets (sm_90a) count only on their exact GPU.
     */
    public static Coverage coverage(List<String> targets, int major, int minor) {
        String sm = "sm_" + major + minor;
        if (targets == null) return new Coverage(false, "the CUDA kernels were not built (no nvcc at build time)");
        int cc = major * 10 + minor;
        int bestSass = -1, bestPtx = -1;
        for (String t : targets) {
            Matcher m = TARGET.matcher(t);
            if (!m.matches()) continue;
            int v = Integer.parseInt(m.group(2));
            boolean archSpecific = !m.group(3).isEmpty();
            if (m.group(1).equals("sm")) {
                if (v == cc) return new Coverage(true, "SASS " + t);
                if (!archSpecific && v / 10 == major && v < cc) bestSass = Math.max(bestSass, v);
            } else if (!archSpecific && v <= cc) {
                bestPtx = Math.max(bestPtx, v);
            }
        }
        if (bestSass >= 0) return new Coverage(true, "SASS sm_" + bestSass + " (binary-compatible with " + sm + ")");
        if (bestPtx >= 0) return new Coverage(true, "PTX compute_" + bestPtx + " (JIT-compiled by the driver for " + sm + " on first use)");
        return new Coverage(false, "no SASS for " + sm + " and no PTX at or below compute_" + cc + " (built for " + String.join(" ", targets) + ")");
    }
}
