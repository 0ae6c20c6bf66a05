package dev.sumi.bench;

import dev.sumi.device.CudaDevice;
import dev.sumi.device.Device;
import dev.sumi.device.DeviceBuffer;
import dev.sumi.ops.ActivationOps;
import dev.sumi.ops.AttentionOps;
import dev.sumi.ops.AttentionParams;
import dev.sumi.ops.BasicOps;
import dev.sumi.ops.Conv2dOps;
import dev.sumi.ops.Conv2dParams;
import dev.sumi.ops.LinearOps;
import dev.sumi.ops.LoraOps;
import dev.sumi.ops.LossOps;
import dev.sumi.ops.NormOps;
import dev.sumi.ops.OptimizerOps;
import dev.sumi.ops.ShapeOps;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * Times every training op forward and backward at SD 1.5 UNet shapes ({@code sumi bench ops}).
 * Shapes follow the latent size L = resolution / 8 and T = L * L tokens: level 0 is 320 channels at
 * L x L, level 1 640 at L/2, level 2 1280 at L/4; attention is 8 heads of 40 at level 0 (self over T
 * tokens, cross over 77 text tokens). Every tensor an op needs is allocated before its timing and
 * reused by every repetition; each repetition runs between two {@link Device#synchronize()} calls and
 * the median is reported.
 *
 * <p>Work per pass: GEMM-like ops count 2 FLOP per multiply-add of the products they compute (conv:
 * 2 N Cout P Cin K^2 forward, twice that backward for dx and dweight; attention 4 B H Tq Tk D forward
 * and 2.5x that backward, FlashAttention's convention); memory-bound ops count the bytes an ideal
 * implementation must read and write (each input once, each output once; parameters and statistics
 * are left out). scripts/bench-torch uses the same op names, shapes and counts.
 */
public final class OpsBench {
    private OpsBench() {}

    /** Context tokens of SD 1.x's text encoder, and the attention geometry of UNet level 0. */
    public static final int CONTEXT = 77, HEADS = 8, HEAD_DIM = 40, LORA_RANK = 32;

    public enum Metric { FLOP, BYTES }

    /** {@code reps} timed runs after {@code warmup} untimed ones; {@code ops}: name substrings (empty: all). */
    public record Config(int batch, int resolution, DType dtype, int reps, int warmup, List<String> ops) {
        public Config {
            if (batch < 1) throw new IllegalArgumentException("bench ops: --batch must be positive, got " + batch);
            if (resolution < 64 || resolution % 64 != 0) throw new IllegalArgumentException("bench ops: --resolution must be a positive multiple of 64, got " + resolution);
            if (reps < 1 || warmup < 0) throw new IllegalArgumentException("bench ops: need reps >= 1 and warmup >= 0, got " + reps + ", " + warmup);
            if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16) throw new IllegalArgumentException("bench ops: --dtype must be F32, F16 or BF16, got " + dtype);
            ops = ops == null ? List.of() : List.copyOf(ops);
        }

        public int latent() {
            return resolution / 8;
        }
    }

    /** One op: median ms and work (FLOP or bytes) of each pass; a missing backward has NaN ms. */
    public record Result(String op, int batch, String shape, Metric metric, double fwdMs, double fwdWork, double bwdMs, double bwdWork) {
        /** FLOP/s or bytes/s of the forward (NaN without one). */
        public double fwdRate() {
            return fwdWork / (fwdMs * 1e-3);
        }

        public double bwdRate() {
            return bwdWork / (bwdMs * 1e-3);
        }
    }

    /** A benchmark case: its name, a shape description, the work of each pass, and the setup that allocates and returns the passes. */
    record Case(String name, String shape, Metric metric, double fwdWork, double bwdWork, Function<Scope, Passes> setup) {}

    /** The timed bodies; {@code bwd} may be null (an op with no backward). */
    record Passes(Runnable fwd, Runnable bwd) {}

    /** Owns the allocations of one case. */
    static final class Scope implements AutoCloseable {
        final Device d;
        final DType t;
        private final List<AutoCloseable> owned = new ArrayList<>();

        Scope(Device d, DType t) {
            this.d = d;
            this.t = t;
        }

        /** A tensor of the storage type filled with {@code value}. */
        Tensor t(float value, long... dims) {
            return filled(t, value, dims);
        }

        Tensor f32(float value, long... dims) {
            return filled(DType.F32, value, dims);
        }

        Tensor filled(DType type, float value, long... dims) {
            Tensor x = Tensor.allocate(d, type, dims);
            owned.add(x);
            BasicOps.fill(x, value);
            return x;
        }

        DeviceBuffer buffer(long bytes) {
            DeviceBuffer b = d.allocate(Math.max(256, bytes));
            owned.add(b);
            return b;
        }

        <T extends AutoCloseable> T own(T c) {
            owned.add(c);
            return c;
        }

        @Override
        public void close() {
            for (int i = owned.size() - 1; i >= 0; i--) {
                try {
                    owned.get(i).close();
                } catch (Exception e) {
                    throw new IllegalStateException("bench ops: freeing a buffer failed", e);
                }
            }
            owned.clear();
        }
    }

    // ---------------------------------------------------------------- the op list

    /** Every case of the config, in table order (filter not applied). */
    static List<Case> cases(Config c) {
        int b = c.batch(), l = c.latent(), tok = l * l;
        long e = c.dtype().byteSize;
        long rows = (long) b * tok;
        List<Case> list = new ArrayList<>();
        list.add(conv("conv3x3_320", Conv2dParams.same3x3(b, 320, l, l, 320)));
        list.add(conv("conv3x3_640", Conv2dParams.same3x3(b, 640, l / 2, l / 2, 640)));
        list.add(conv("conv3x3_1280", Conv2dParams.same3x3(b, 1280, l / 4, l / 4, 1280)));
        list.add(conv("conv3x3_down_320", Conv2dParams.down3x3(b, 320, l, l, 320)));

        long gnElems = (long) b * 320 * l * l;
        list.add(new Case("groupnorm_silu_320", dims(b, 320, l, l) + " 32 groups", Metric.BYTES, 2.0 * gnElems * e, 3.0 * gnElems * e, s -> {
            Tensor x = s.t(0.5f, b, 320, l, l), out = s.t(0, b, 320, l, l), dout = s.t(0.01f, b, 320, l, l), dx = s.t(0, b, 320, l, l);
            Tensor g = s.t(1, 320), be = s.t(0, 320), dg = s.t(0, 320), db = s.t(0, 320);
            Tensor mean = s.f32(0, (long) b * NormOps.GROUPS), rstd = s.f32(0, (long) b * NormOps.GROUPS);
            return new Passes(() -> NormOps.groupnormForward(out, mean, rstd, x, g, be, NormOps.GROUPS, NormOps.EPS, true),
                    () -> NormOps.groupnormBackward(dx, dg, db, dout, x, g, be, mean, rstd, NormOps.GROUPS, true));
        }));

        list.add(new Case("layernorm_320", dims(rows, 320), Metric.BYTES, 2.0 * rows * 320 * e, 3.0 * rows * 320 * e, s -> {
            Tensor x = s.t(0.5f, rows, 320), out = s.t(0, rows, 320), dout = s.t(0.01f, rows, 320), dx = s.t(0, rows, 320);
            Tensor w = s.t(1, 320), bias = s.t(0, 320), dw = s.t(0, 320), db = s.t(0, 320);
            Tensor mean = s.f32(0, rows), rstd = s.f32(0, rows);
            return new Passes(() -> NormOps.layernormForward(out, mean, rstd, x, w, bias, NormOps.EPS),
                    () -> NormOps.layernormBackward(dx, dw, db, dout, x, w, mean, rstd));
        }));

        list.add(new Case("geglu_1280", dims(rows, 2560) + " -> " + dims(rows, 1280), Metric.BYTES,
                (2560.0 + 1280) * rows * e, (1280.0 + 2560 + 2560) * rows * e, s -> {
            Tensor x = s.t(0.5f, rows, 2560), out = s.t(0, rows, 1280), dout = s.t(0.01f, rows, 1280), dx = s.t(0, rows, 2560);
            return new Passes(() -> ActivationOps.geglu(out, x), () -> ActivationOps.gegluBackward(dx, dout, x));
        }));

        double lin = 2.0 * rows * 320 * 320;
        list.add(new Case("linear_320", dims(rows, 320) + " -> 320, bias", Metric.FLOP, lin, 2 * lin, s -> {
            Tensor x = s.t(0.01f, rows, 320), w = s.t(0.01f, 320, 320), bias = s.t(0, 320), y = s.t(0, rows, 320);
            Tensor dy = s.t(0.01f, rows, 320), dx = s.t(0, rows, 320), dw = s.t(0, 320, 320), db = s.t(0, 320);
            return new Passes(() -> LinearOps.forward(y, x, w, bias), () -> LinearOps.backward(dx, dw, db, dy, x, w));
        }));

        int r = LORA_RANK;
        double loraFwd = lin + 2.0 * rows * r * 320 * 2, loraBwd = lin + 2.0 * rows * r * 320 * 4;
        list.add(new Case("lora_320_r32", dims(rows, 320) + " -> 320, r 32", Metric.FLOP, loraFwd, loraBwd, s -> {
            Tensor x = s.t(0.01f, rows, 320), w = s.t(0.01f, 320, 320), bias = s.t(0, 320), y = s.t(0, rows, 320), h = s.t(0, rows, r);
            Tensor down = s.t(0.01f, r, 320), up = s.t(0.01f, 320, r), dDown = s.t(0, r, 320), dUp = s.t(0, 320, r), dh = s.t(0, rows, r);
            Tensor dy = s.t(0.01f, rows, 320), dx = s.t(0, rows, 320);
            float sc = LoraOps.scale(1, r, r);
            return new Passes(() -> LoraOps.forward(y, h, x, w, bias, down, up, sc),
                    () -> LoraOps.backward(dx, dDown, dUp, null, dh, dy, x, h, w, down, up, sc));
        }));

        list.add(attention("attn_self", b, tok, tok));
        list.add(attention("attn_cross", b, tok, CONTEXT));

        long up = (long) b * 640 * (l / 2) * (l / 2);
        list.add(new Case("upsample2x_640", dims(b, 640, l / 2, l / 2) + " -> " + dims(b, 640, l, l), Metric.BYTES, 5.0 * up * e, 5.0 * up * e, s -> {
            Tensor x = s.t(0.5f, b, 640, l / 2, l / 2), out = s.t(0, b, 640, l, l), dout = s.t(0.01f, b, 640, l, l), dx = s.t(0, b, 640, l / 2, l / 2);
            return new Passes(() -> ShapeOps.upsampleNearest2x(out, x), () -> ShapeOps.upsampleNearest2xBackward(dx, dout));
        }));

        long cat = (long) b * 640 * l * l;
        list.add(new Case("concat_320_320", "2 x " + dims(b, 320, l, l) + " -> " + dims(b, 640, l, l), Metric.BYTES, 2.0 * cat * e, 2.0 * cat * e, s -> {
            Tensor a = s.t(0.5f, b, 320, l, l), bb = s.t(0.25f, b, 320, l, l), out = s.t(0, b, 640, l, l);
            Tensor dout = s.t(0.01f, b, 640, l, l), da = s.t(0, b, 320, l, l), db = s.t(0, b, 320, l, l);
            return new Passes(() -> ShapeOps.concatChannels(out, a, bb), () -> ShapeOps.concatChannelsBackward(da, db, dout));
        }));

        list.add(new Case("timestep_emb_320", dims(b) + " -> " + dims(b, 320), Metric.BYTES, 4.0 * b + 320.0 * b * e, 0, s -> {
            Tensor ts = s.f32(500, b), out = s.t(0, b, 320);
            return new Passes(() -> ShapeOps.timestepEmbedding(out, ts), null);
        }));

        long lat = (long) b * 4 * l * l;
        list.add(new Case("mse_loss", dims(b, 4, l, l) + " loss + grad", Metric.BYTES, 3.0 * lat * e, 0, s -> {
            Tensor pred = s.t(0.5f, b, 4, l, l), target = s.t(0.25f, b, 4, l, l), dpred = s.t(0, b, 4, l, l);
            Tensor w = s.f32(1, b), loss = s.f32(0, 1);
            return new Passes(() -> LossOps.mseWeighted(loss, dpred, pred, target, w, 1f), null);
        }));

        long[] loraShapes = sd15LoraTensorSizes(r);
        long params = Arrays.stream(loraShapes).sum();
        String optShape = String.format(Locale.ROOT, "%.2fM F32 params in %d tensors", params / 1e6, loraShapes.length);
        list.add(new Case("adamw", optShape, Metric.BYTES, (4.0 + 28.0) * params, 0, s -> {
            OptimizerOps.ParamSet set = optimizerSet(s, loraShapes, true);
            OptimizerOps.AdamW h = new OptimizerOps.AdamW(1e-4f, 0.9f, 0.999f, 1e-8f);
            return new Passes(() -> {
                OptimizerOps.gradNorm(set, 1f);
                OptimizerOps.adamw(set, h, 1, 1f, 1f);
            }, null);
        }));
        list.add(new Case("lion", optShape, Metric.BYTES, (4.0 + 20.0) * params, 0, s -> {
            OptimizerOps.ParamSet set = optimizerSet(s, loraShapes, false);
            OptimizerOps.Lion h = new OptimizerOps.Lion(1e-5f, 0.9f, 0.99f);
            return new Passes(() -> {
                OptimizerOps.gradNorm(set, 1f);
                OptimizerOps.lion(set, h, 1f, 1f);
            }, null);
        }));
        return list;
    }

    private static Case conv(String name, Conv2dParams p) {
        double flop = 2.0 * p.n() * p.cout() * p.pixelsOut() * p.patchSize();
        String shape = dims(p.n(), p.cin(), p.h(), p.w()) + " 3x3" + (p.stride() == 2 ? " s2" : "") + " -> " + dims(p.n(), p.cout(), p.hOut(), p.wOut());
        return new Case(name, shape, Metric.FLOP, flop, 2 * flop, s -> {
            Tensor x = s.t(0.01f, p.inputShape()), w = s.t(0.01f, p.weightShape()), bias = s.t(0, p.cout()), out = s.t(0, p.outputShape());
            Tensor dout = s.t(0.01f, p.outputShape()), dx = s.t(0, p.inputShape());
            Tensor dw = s.f32(0, p.weightShape()), db = s.f32(0, p.cout());
            DeviceBuffer ws = s.buffer(Conv2dOps.workspaceBytes(p));
            return new Passes(() -> Conv2dOps.forward(out, x, w, bias, ws, p), () -> {
                Conv2dOps.backwardInput(dx, dout, w, ws, p);
                Conv2dOps.backwardWeight(dw, db, dout, x, ws, p);
            });
        });
    }

    private static Case attention(String name, int b, int tq, int tk) {
        double flop = 4.0 * b * HEADS * tq * (double) tk * HEAD_DIM;
        String shape = String.format(Locale.ROOT, "B %d, %d heads x %d, %d x %d tokens", b, HEADS, HEAD_DIM, tq, tk);
        return new Case(name, shape, Metric.FLOP, flop, 2.5 * flop, s -> {
            AttentionParams p = AttentionParams.packed(b, HEADS, tq, tk, HEAD_DIM, false);
            long qn = (long) b * tq * HEADS * HEAD_DIM, kn = (long) b * tk * HEADS * HEAD_DIM;
            Tensor q = s.t(0.1f, qn), k = s.t(0.1f, kn), v = s.t(0.1f, kn), out = s.t(0, qn), lse = s.f32(0, p.rows());
            Tensor dout = s.t(0.01f, qn), dq = s.t(0, qn), dk = s.t(0, kn), dv = s.t(0, kn), delta = s.f32(0, p.rows());
            return new Passes(() -> AttentionOps.forward(out, lse, q, k, v, p),
                    () -> AttentionOps.backward(dq, dk, dv, delta, dout, out, lse, q, k, v, p));
        });
    }

    private static OptimizerOps.ParamSet optimizerSet(Scope s, long[] sizes, boolean adam) {
        long total = Arrays.stream(sizes).sum();
        Tensor p = s.f32(0.01f, total), g = s.f32(0.001f, total), m = s.f32(0, total), v = adam ? s.f32(0, total) : null;
        List<OptimizerOps.Slot> slots = new ArrayList<>();
        long off = 0;
        for (long n : sizes) {
            slots.add(new OptimizerOps.Slot(p.view(off, n), g.view(off, n), m.view(off, n), adam ? v.view(off, n) : null, 1f, 0.01f));
            off += n;
        }
        return s.own(OptimizerOps.ParamSet.create(slots));
    }

    /**
     * Element counts of the down (rank, in) and up (out, rank) tensors of an SD 1.5 LoRA of the given
     * rank with kohya's default targets: every Transformer2DModel of the UNet (proj_in, proj_out, attn1
     * q/k/v/out, attn2 q/k/v/out with k, v from the 768-wide text states, ff.net.0.proj C -> 8C,
     * ff.net.2 4C -> C; 16 blocks: 5 at 320, 5 at 640, 6 at 1280 channels) and the text encoder's 12
     * layers (q/k/v/out 768 -> 768, fc1 768 -> 3072, fc2 3072 -> 768). Rank 32: 18.87M parameters.
     */
    public static long[] sd15LoraTensorSizes(int rank) {
        List<long[]> modules = new ArrayList<>();   // {in, out}
        int[] blockChannels = {320, 320, 640, 640, 1280, 1280, 1280, 1280, 1280, 1280, 640, 640, 640, 320, 320, 320};
        for (int c : blockChannels) {
            modules.add(new long[] {c, c});                    // proj_in
            for (int i = 0; i < 4; i++) modules.add(new long[] {c, c});   // attn1 q, k, v, out
            modules.add(new long[] {c, c});                    // attn2 q
            modules.add(new long[] {768, c});                  // attn2 k
            modules.add(new long[] {768, c});                  // attn2 v
            modules.add(new long[] {c, c});                    // attn2 out
            modules.add(new long[] {c, 8L * c});               // ff.net.0.proj (GEGLU)
            modules.add(new long[] {4L * c, c});               // ff.net.2
            modules.add(new long[] {c, c});                    // proj_out
        }
        for (int layer = 0; layer < 12; layer++) {
            for (int i = 0; i < 4; i++) modules.add(new long[] {768, 768});
            modules.add(new long[] {768, 3072});
            modules.add(new long[] {3072, 768});
        }
        long[] sizes = new long[2 * modules.size()];
        for (int i = 0; i < modules.size(); i++) {
            sizes[2 * i] = rank * modules.get(i)[0];       // down (rank, in)
            sizes[2 * i + 1] = modules.get(i)[1] * rank;   // up (out, rank)
        }
        return sizes;
    }

    // ---------------------------------------------------------------- running

    /** The names of every op, in table order. */
    public static List<String> opNames() {
        return cases(new Config(1, 64, DType.BF16, 1, 0, List.of())).stream().map(Case::name).toList();
    }

    /** Runs the selected ops one after the other; {@code each} sees every result as soon as it is measured. */
    public static List<Result> run(Device d, Config c, java.util.function.Consumer<Result> each) {
        List<Result> results = new ArrayList<>();
        for (Case k : cases(c)) {
            if (!selected(k.name(), c.ops())) continue;
            try (Scope s = new Scope(d, c.dtype())) {
                Passes p = k.setup().apply(s);
                d.synchronize();
                double fwd = median(d, c, p.fwd());
                double bwd = p.bwd() == null ? Double.NaN : median(d, c, p.bwd());
                Result r = new Result(k.name(), c.batch(), k.shape(), k.metric(), fwd, k.fwdWork(), bwd, k.bwdWork());
                results.add(r);
                if (each != null) each.accept(r);
            }
        }
        return results;
    }

    static boolean selected(String name, List<String> filter) {
        if (filter.isEmpty()) return true;
        for (String f : filter) {
            if (selectedByOne(name, f)) return true;
        }
        return false;
    }

    /** Whether one --ops entry (a substring of the name) selects {@code name}. */
    public static boolean selectedByOne(String name, String f) {
        return !f.isBlank() && name.contains(f.strip());
    }

    private static double median(Device d, Config c, Runnable body) {
        double[] ms = times(d, c, body);
        int n = ms.length;
        return n % 2 == 1 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
    }

    /** The sorted times of {@code c.reps()} runs after {@code c.warmup()} untimed ones, in ms. */
    private static double[] times(Device d, Config c, Runnable body) {
        for (int i = 0; i < c.warmup(); i++) body.run();
        d.synchronize();
        double[] ms = new double[c.reps()];
        for (int i = 0; i < ms.length; i++) {
            d.synchronize();
            long t0 = System.nanoTime();
            body.run();
            d.synchronize();
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(ms);
        return ms;
    }

    // ---------------------------------------------------------------- peaks

    /**
     * What the rates are compared with. A GPU: the datasheet table ({@link DevicePeaks}). The host: the
     * best of {@code reps} runs (not the median: the host is shared, and a peak is what the machine can
     * do) of a GEMM (GemmBench, m = n = k = {@code gemmSize}, the dtype in and out) and of two copies of
     * {@code copyElements} F32 (read + write counted), {@link Device#copy} (memcpy) and the scale kernel
     * on all worker threads, the faster of which is the bandwidth.
     */
    public static DevicePeaks.Peak peak(Device d, DType dtype, int gemmSize, long copyElements, int reps) {
        if (d instanceof CudaDevice cuda) return DevicePeaks.of(cuda, dtype);
        GemmBench.Result g = GemmBench.run(d, dtype, dtype, gemmSize, gemmSize, gemmSize, 1, reps);
        double gemmFlops = 2.0 * gemmSize * gemmSize * gemmSize / (g.minMs() * 1e-3);
        double memcpyMs, kernelMs;
        try (Tensor a = Tensor.allocate(d, DType.F32, copyElements); Tensor b = Tensor.allocate(d, DType.F32, copyElements)) {
            BasicOps.fill(a, 1f);
            BasicOps.fill(b, 0f);
            Config c = new Config(1, 64, DType.F32, reps, 1, List.of());
            memcpyMs = times(d, c, () -> d.copy(a.buffer(), b.buffer()))[0];
            kernelMs = times(d, c, () -> BasicOps.scale(b, a, 1f))[0];
        }
        double memcpy = 8.0 * copyElements / (memcpyMs * 1e-3), kernel = 8.0 * copyElements / (kernelMs * 1e-3);
        return new DevicePeaks.Peak(String.format(Locale.ROOT,
                "measured on this host, not a datasheet: achieved GEMM %d^3 %s %.1f GFLOP/s; copy of %d MB: memcpy %.1f GB/s, scale kernel %.1f GB/s (the faster is 100%%); best of %d",
                gemmSize, dtype, gemmFlops / 1e9, 4 * copyElements / 1_000_000, memcpy / 1e9, kernel / 1e9, reps), gemmFlops, Math.max(memcpy, kernel), true);
    }

    // ---------------------------------------------------------------- output

    public static String header() {
        return String.format(Locale.ROOT, "  %-18s %-3s %-46s %10s %16s %6s %10s %16s %6s", "op", "B", "shape", "fwd ms", "fwd rate", "%peak", "bwd ms", "bwd rate", "%peak");
    }

    public static String row(Result r, DevicePeaks.Peak peak) {
        return String.format(Locale.ROOT, "  %-18s %-3d %-46s %10.3f %16s %6s %10s %16s %6s", r.op(), r.batch(), r.shape(),
                r.fwdMs(), rate(r.metric(), r.fwdRate()), frac(r.metric(), r.fwdRate(), peak),
                Double.isNaN(r.bwdMs()) ? "-" : String.format(Locale.ROOT, "%.3f", r.bwdMs()),
                Double.isNaN(r.bwdMs()) ? "-" : rate(r.metric(), r.bwdRate()),
                Double.isNaN(r.bwdMs()) ? "-" : frac(r.metric(), r.bwdRate(), peak));
    }

    static String rate(Metric m, double perSecond) {
        // three significant digits below 1 (the host's rates), one decimal above
        double v = m == Metric.FLOP ? perSecond / 1e12 : perSecond / 1e9;
        return String.format(Locale.ROOT, v < 1 ? "%.3g %s" : "%.1f %s", v, m == Metric.FLOP ? "TFLOP/s" : "GB/s");
    }

    static String frac(Metric m, double perSecond, DevicePeaks.Peak peak) {
        double f = fraction(m, perSecond, peak);
        return Double.isNaN(f) ? "?" : String.format(Locale.ROOT, "%.0f%%", 100 * f);
    }

    static double fraction(Metric m, double perSecond, DevicePeaks.Peak peak) {
        double p = m == Metric.FLOP ? peak.flops() : peak.bytesPerSecond();
        return Double.isNaN(p) || Double.isNaN(perSecond) ? Double.NaN : perSecond / p;
    }

    /** One result as a JSON-ready map (the schema scripts/bench-torch writes too). */
    public static Map<String, Object> json(Result r, DevicePeaks.Peak peak) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("op", r.op());
        m.put("batch", r.batch());
        m.put("shape", r.shape());
        m.put("metric", r.metric() == Metric.FLOP ? "flop" : "bytes");
        m.put("fwd_ms", r.fwdMs());
        m.put("fwd_work", r.fwdWork());
        m.put("fwd_rate", r.fwdRate());
        m.put("fwd_peak_fraction", fraction(r.metric(), r.fwdRate(), peak));
        boolean bwd = !Double.isNaN(r.bwdMs());
        m.put("bwd_ms", bwd ? r.bwdMs() : null);
        m.put("bwd_work", bwd ? r.bwdWork() : null);
        m.put("bwd_rate", bwd ? r.bwdRate() : null);
        m.put("bwd_peak_fraction", bwd ? fraction(r.metric(), r.bwdRate(), peak) : null);
        return m;
    }

    static String dims(long... d) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < d.length; i++) {
            if (i > 0) sb.append(',');
            sb.append(d[i]);
        }
        return sb.append(']').toString();
    }
}
