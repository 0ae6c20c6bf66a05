package dev.sumi.bench;

import dev.sumi.device.CudaDevice;
import dev.sumi.tensor.DType;

import java.util.List;
import java.util.Locale;

/**
 * Peak rates of the GPUs sumi is likely to meet, to turn a measured rate into a fraction of the
 * hardware's. Source: the vendor datasheets and architecture whitepapers (NVIDIA H100, H200, A100, L4
 * datasheets; Ampere GA102, Ada AD102 and Blackwell GB202 whitepapers). All figures are dense (no
 * 2:4 sparsity), tensor-core F16/BF16 with F32 accumulate (sumi always accumulates in F32: on GeForce
 * cards that is half the F16-accumulate rate), plain F32 without TF32 (non-tensor FMA), and the
 * memory bandwidth of the board. Boost clocks: sustained clocks are lower, so 100% is not reachable.
 */
public final class DevicePeaks {
    private DevicePeaks() {}

    /**
     * One board. {@code match}: a substring of the driver's device name (checked in table order, so
     * the more specific names come first); {@code ccMajor, ccMinor}: its compute capability, checked too.
     */
    public record Gpu(String match, String label, int ccMajor, int ccMinor, double bf16Tflops, double f32Tflops, double memGBs) {}

    // vendor datasheet (dense BF16/F16 tensor TFLOP/s with F32 accumulate, F32 TFLOP/s, GB/s)
    static final List<Gpu> TABLE = List.of(
            new Gpu("H200 NVL", "H200 NVL", 9, 0, 836, 60, 4800),
            new Gpu("H200", "H200 SXM", 9, 0, 989, 67, 4800),
            new Gpu("H100 NVL", "H100 NVL", 9, 0, 835, 60, 3900),
            new Gpu("H100 PCIe", "H100 PCIe", 9, 0, 756, 51, 2000),
            new Gpu("H100", "H100 SXM", 9, 0, 989, 67, 3350),
            new Gpu("A100 80GB PCIe", "A100 80GB PCIe", 8, 0, 312, 19.5, 1935),
            new Gpu("A100-SXM4-80GB", "A100 80GB SXM", 8, 0, 312, 19.5, 2039),
            new Gpu("A100", "A100 40GB", 8, 0, 312, 19.5, 1555),
            new Gpu("L40S", "L40S", 8, 9, 362, 91.6, 864),
            new Gpu("L40", "L40", 8, 9, 181, 90.5, 864),
            new Gpu("L4", "L4", 8, 9, 121, 30.3, 300),
            new Gpu("RTX 3090", "RTX 3090", 8, 6, 71, 35.6, 936),
            new Gpu("RTX 4090", "RTX 4090", 8, 9, 165.2, 82.6, 1008),
            new Gpu("RTX 5090", "RTX 5090", 12, 0, 209.5, 104.8, 1792));

    /** The board whose name and compute capability match, or null. */
    public static Gpu lookup(String deviceName, int ccMajor, int ccMinor) {
        if (deviceName == null) return null;
        for (Gpu g : TABLE) {
            if (deviceName.contains(g.match())) return g.ccMajor() == ccMajor && g.ccMinor() == ccMinor ? g : null;
        }
        return null;
    }

    /**
     * What a run is compared with: FLOP/s for the dtype and bytes/s; {@code measured} for the host
     * (an achieved GEMM and copy rate, not a datasheet peak). Either rate may be NaN (unknown).
     */
    public record Peak(String description, double flops, double bytesPerSecond, boolean measured) {
        public static final Peak UNKNOWN = new Peak("unknown (not in the peak table)", Double.NaN, Double.NaN, false);
    }

    /** The datasheet peak of a CUDA device for {@code dtype}, or {@link Peak#UNKNOWN}. */
    public static Peak of(CudaDevice d, DType dtype) {
        int[] cc = d.computeCapability();
        Gpu g = lookup(d.name(), cc[0], cc[1]);
        if (g == null) return new Peak("unknown: " + d.name() + " (sm_" + cc[0] + cc[1] + ") is not in the peak table", Double.NaN, Double.NaN, false);
        double tflops = dtype == DType.F32 ? g.f32Tflops() : g.bf16Tflops();
        return new Peak(String.format(Locale.ROOT, "%s datasheet: %.1f TFLOP/s %s, %.0f GB/s", g.label(), tflops,
                dtype == DType.F32 ? "F32 (no TF32)" : "dense " + dtype, g.memGBs()), tflops * 1e12, g.memGBs() * 1e9, false);
    }
}
