package dev.sumi.bench;

import dev.sumi.device.CudaDevice;
import dev.sumi.device.Device;
import dev.sumi.device.DeviceBuffer;
import dev.sumi.device.Dim3;
import dev.sumi.device.GemmParams;
import dev.sumi.device.HostDevice;
import dev.sumi.ops.Conv2dOps;
import dev.sumi.ops.Conv2dParams;
import dev.sumi.ops.Launch;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Times a conv2d forward as im2col + GEMM in the two layouts (issue 5 asked for the layout choice to
 * be measured): NCHW, as {@link Conv2dOps} runs it (col (N, R, P) per image, one strided-batched GEMM
 * with the weight's stride 0), and NHWC (col (N*P, R) with channels innermost, one plain GEMM over all
 * images; im2col kernel {@code conv2d_im2col_nhwc_*}, which exists only for this comparison). Medians of
 * {@code reps} runs, each between two {@link Device#synchronize()} calls; the operands hold the byte 0x3c.
 *
 * <p>{@code java -cp target/classes:... dev.sumi.bench.ConvBench [reps] [host|cuda]} runs the SD-like shapes
 * on the host device (default) or the first GPU.
 */
public final class ConvBench {
    private ConvBench() {}

    /** One layout at one shape: im2col time, GEMM time and their sum, in ms. */
    public record Result(String layout, Conv2dParams p, DType type, double im2colMs, double gemmMs) {
        public double totalMs() {
            return im2colMs + gemmMs;
        }

        public double gflops() {
            return 2.0 * p.n() * p.cout() * p.pixelsOut() * p.patchSize() / (totalMs() * 1e-3) / 1e9;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%-5s %-60s %-4s im2col %8.3f ms  gemm %8.3f ms  total %8.3f ms  %6.1f GFLOP/s",
                    layout, p, type, im2colMs, gemmMs, totalMs(), gflops());
        }
    }

    public static List<Result> run(Device d, DType t, Conv2dParams p, int reps) {
        if (p.isPointwise()) throw new IllegalArgumentException("conv bench: a pointwise conv has no im2col, got " + p);
        int r = p.patchSize(), pix = p.pixelsOut(), n = p.n();
        long colElements = (long) n * r * pix;
        List<Result> results = new ArrayList<>();
        try (Tensor x = Tensor.allocate(d, t, p.inputShape()); Tensor w = Tensor.allocate(d, t, p.weightShape());
             Tensor y = Tensor.allocate(d, t, p.outputShape()); Tensor col = Tensor.allocate(d, t, colElements)) {
            d.memset(x.buffer(), (byte) 0x3c);
            d.memset(w.buffer(), (byte) 0x3c);
            String s = t.kernelSuffix();
            Object[] geometry = {n, p.cin(), p.h(), p.w(), p.k(), p.stride(), p.padTop(), p.padLeft(), p.hOut(), p.wOut()};

            // NCHW: the ops' own path
            Runnable nchwIm2col = () -> d.launch("conv2d_im2col_" + s, Launch.flatGrid((long) n * p.cin() * pix), Dim3.of(Launch.BLOCK), 0,
                    concat(col, x, geometry));
            GemmParams nchwGemm = new GemmParams(false, false, pix, p.cout(), r, 1f, col, pix, (long) r * pix,
                    w, r, 0, 0f, y, pix, (long) p.cout() * pix, n);
            nchwGemm.validate();
            results.add(new Result("NCHW", p, t, median(d, reps, nchwIm2col), median(d, reps, () -> d.gemm(nchwGemm))));

            // NHWC: y (N*P, Cout) = col (N*P, R) w'(Cout, R)^T, w' being (Cout, K, K, Cin); same byte counts
            Runnable nhwcIm2col = () -> d.launch("conv2d_im2col_nhwc_" + s, Launch.flatGrid((long) n * pix * p.k() * p.k()), Dim3.of(Launch.BLOCK), 0,
                    concat(col, x, geometry));
            GemmParams nhwcGemm = GemmParams.of(true, false, p.cout(), n * pix, r, 1f, w, r, col, r, 0f, y, p.cout());
            nhwcGemm.validate();
            results.add(new Result("NHWC", p, t, median(d, reps, nhwcIm2col), median(d, reps, () -> d.gemm(nhwcGemm))));
        }
        return results;
    }

    /** The whole {@link Conv2dOps#forward} (bias fill + im2col + GEMM) in ms, as a cross-check of the parts. */
    public static double forwardMs(Device d, DType t, Conv2dParams p, int reps) {
        try (Tensor x = Tensor.allocate(d, t, p.inputShape()); Tensor w = Tensor.allocate(d, t, p.weightShape());
             Tensor b = Tensor.allocate(d, t, p.cout()); Tensor y = Tensor.allocate(d, t, p.outputShape());
             DeviceBuffer ws = d.allocate(Math.max(1, Conv2dOps.workspaceBytes(p)))) {
            d.memset(x.buffer(), (byte) 0x3c);
            d.memset(w.buffer(), (byte) 0x3c);
            d.memset(b.buffer(), (byte) 0x3c);
            return median(d, reps, () -> Conv2dOps.forward(y, x, w, b, ws, p));
        }
    }

    private static Object[] concat(Object a, Object b, Object[] rest) {
        Object[] all = new Object[rest.length + 2];
        all[0] = a;
        all[1] = b;
        System.arraycopy(rest, 0, all, 2, rest.length);
        return all;
    }

    private static double median(Device d, int reps, Runnable body) {
        body.run();
        d.synchronize();
        double[] ms = new double[reps];
        for (int i = 0; i < reps; i++) {
            d.synchronize();
            long t0 = System.nanoTime();
            body.run();
            d.synchronize();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        return reps % 2 == 1 ? ms[reps / 2] : (ms[reps / 2 - 1] + ms[reps / 2]) / 2;
    }

    /** SD-like shapes: a UNet level-1 conv at a 256x256 image (32x32 latent), its downsample, and a VAE decoder conv. */
    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        List<Conv2dParams> shapes = List.of(
                Conv2dParams.same3x3(1, 320, 32, 32, 320),
                Conv2dParams.down3x3(1, 320, 32, 32, 320),
                Conv2dParams.same3x3(1, 128, 64, 64, 128));
        boolean cuda = args.length > 1 && args[1].equals("cuda");
        try (Device d = cuda ? CudaDevice.open(0) : HostDevice.open()) {
            System.out.println("conv2d im2col + GEMM on " + d.name() + " (median of " + reps + ")");
            for (DType t : new DType[] {DType.F32, DType.BF16}) {
                for (Conv2dParams p : shapes) {
                    for (Result r : run(d, t, p, reps)) System.out.println(r);
                    System.out.printf(Locale.ROOT, "      Conv2dOps.forward (bias fill + im2col + GEMM): %.3f ms%n", forwardMs(d, t, p, reps));
                }
            }
        }
    }
}
