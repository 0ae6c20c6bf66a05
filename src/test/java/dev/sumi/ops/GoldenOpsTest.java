package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.device.DeviceBuffer;
import dev.sumi.ops.ref.ActivationRef;
import dev.sumi.ops.ref.AttentionRef;
import dev.sumi.ops.ref.Conv2dRef;
import dev.sumi.ops.ref.LinearRef;
import dev.sumi.ops.ref.LoraRef;
import dev.sumi.ops.ref.LossRef;
import dev.sumi.ops.ref.NormRef;
import dev.sumi.ops.ref.OptimizerRef;
import dev.sumi.ops.ref.ShapeRef;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.StoredConvert;
import dev.sumi.tensor.safetensors.TensorEntry;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.Test;

import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Test tier 3: the op library against PyTorch. Each fixture in src/test/resources/golden/ (written by
 * scripts/golden) holds, per case, float32-representable inputs, a random upstream gradient, and every
 * output and gradient as PyTorch computed it in float64 ({@code name}) and in float32 ({@code name.f32}).
 * Every result is checked twice, by name, llm.c test_gpt2 style (max diff and % of budget printed):
 * <ul>
 * <li><b>F64 reference</b> (ops/ref) against PyTorch float64: {@link #REL64} of the tensor's largest
 *     |value|. Both sides are exact math rounded in double (unit roundoff 2^-53 ~ 1.1e-16); these sums
 *     are at most a few hundred terms, so honest differences are below ~1e-13 relative, while any
 *     formula difference (a missing term, float rounding of a constant, another eps) is above 1e-8.</li>
 * <li><b>F32 kernels</b> (host device) against PyTorch float64, within
 *     {@code 2 x (PyTorch float32's own error) + terms x u x max|ref|}: twice the error of a plain float
 *     computation of the same op (flash-attention's criterion; the kernels sum in other orders and fuse
 *     steps, so they may be up to about as wrong as float32 PyTorch, not more), plus the worst-case
 *     rounding of a float sum of {@code terms} values (the longest reduction feeding one element, from
 *     the case's shape) for tensors PyTorch float32 happens to get (nearly) exact. u = 2^-24.</li>
 * </ul>
 */
class GoldenOpsTest {
    /** See the class comment: double roundoff of short sums is ~1e-13 relative; 1e-10 leaves 1000x. */
    static final double REL64 = 1e-10;
    /** Unit roundoff of float. */
    static final double U = 0x1p-24;

    final Device dev = Devices.host();

    // ---------------------------------------------------------------------------------------------
    // Fixture access and comparison

    static final class Fixture implements AutoCloseable {
        final String op;
        final SafeTensorsFile file;
        final List<String> failures = new ArrayList<>();
        final double[] worst = new double[2];  // worst % of budget: F64 reference, F32 kernels
        int c;  // current case

        Fixture(String op) throws Exception {
            this.op = op;
            URL url = GoldenOpsTest.class.getResource("/golden/" + op + ".safetensors");
            assertNotNull(url, "missing fixture golden/" + op + ".safetensors (run scripts/golden)");
            file = SafeTensorsFile.open(Path.of(url.toURI()));
            assertEquals("sumi-golden-1", file.metadata().get("format"), op + ": fixture format");
        }

        int cases() {
            return Integer.parseInt(file.metadata().get("cases"));
        }

        String s(String key) {
            String v = file.metadata().get("case" + c + "." + key);
            assertNotNull(v, op + ": no metadata case" + c + "." + key);
            return v;
        }

        int i(String key) {
            return Integer.parseInt(s(key));
        }

        double dbl(String key) {
            return Double.parseDouble(s(key));
        }

        boolean bool(String key) {
            return Boolean.parseBoolean(s(key));
        }

        int[] dims(String key) {
            String[] p = s(key).split(",");
            int[] d = new int[p.length];
            for (int j = 0; j < p.length; j++) d[j] = Integer.parseInt(p[j]);
            return d;
        }

        TensorEntry entry(String name) throws Exception {
            return file.get("case" + c + "." + name);
        }

        double[] d(String name) throws Exception {
            TensorEntry e = entry(name);
            double[] v = new double[(int) e.numel()];
            for (int j = 0; j < v.length; j++) v[j] = StoredConvert.getDouble(file.data(e), e.type(), j);
            return v;
        }

        /** An input as floats: exact, since scripts/golden draws every input in float32. */
        float[] f(String name) throws Exception {
            double[] v = d(name);
            float[] r = new float[v.length];
            for (int j = 0; j < v.length; j++) {
                r[j] = (float) v[j];
                if (r[j] != v[j]) fail(op + ": input " + name + "[" + j + "] = " + v[j] + " is not a float");
            }
            return r;
        }

        int[] ints(String name) throws Exception {
            double[] v = d(name);
            int[] r = new int[v.length];
            for (int j = 0; j < v.length; j++) r[j] = (int) v[j];
            return r;
        }

        /**
         * Compares result {@code name}: sumi's F64 reference {@code ref} and F32 kernel output {@code got}
         * against PyTorch's float64 value, with the budgets of the class comment; {@code terms} is the
         * length of the longest float sum behind one element.
         */
        void check(String name, double[] ref, float[] got, double terms) throws Exception {
            double[] torch = d(name), torch32 = d(name + ".f32");
            assertEquals(torch.length, ref.length, op + " case" + c + " " + name + ": reference size");
            assertEquals(torch.length, got.length, op + " case" + c + " " + name + ": kernel size");
            double scale = maxAbs(torch);
            double err64 = maxDiff(ref, torch), budget64 = REL64 * Math.max(scale, Double.MIN_NORMAL);
            double errK = maxDiff(widen(got), torch), err32 = maxDiff(torch32, torch);
            double budgetK = 2 * err32 + terms * U * Math.max(scale, Double.MIN_NORMAL);
            double p64 = err64 == 0 ? 0 : 100 * err64 / budget64, pK = errK == 0 ? 0 : 100 * errK / budgetK;
            worst[0] = Math.max(worst[0], p64);
            worst[1] = Math.max(worst[1], pK);
            System.out.printf("golden %-10s case%d %-7s F64 ref: max diff %.2e (%5.1f%% of %.1e) | F32 kernel: max diff %.2e (%5.1f%% of %.1e; torch f32 %.1e)%n",
                    op, c, name, err64, p64, budget64, errK, pK, budgetK, err32);
            if (!(err64 <= budget64)) failures.add(op + " case" + c + " " + name + ": F64 reference differs from PyTorch by " + err64 + " > " + budget64);
            if (!(errK <= budgetK)) failures.add(op + " case" + c + " " + name + ": F32 kernel differs from PyTorch by " + errK + " > " + budgetK);
        }

        @Override
        public void close() {
            System.out.printf("golden %-10s worst: F64 reference %.1f%%, F32 kernels %.1f%% of budget%n", op, worst[0], worst[1]);
            file.close();
            if (!failures.isEmpty()) fail(String.join("\n", failures));
        }
    }

    static double maxAbs(double[] x) {
        double m = 0;
        for (double v : x) m = Math.max(m, Math.abs(v));
        return m;
    }

    static double maxDiff(double[] a, double[] b) {
        double m = 0;
        for (int j = 0; j < a.length; j++) {
            double e = Math.abs(a[j] - b[j]);
            if (!(e <= m)) m = e;  // NaN propagates
        }
        return m;
    }

    static double[] widen(float[] x) {
        double[] d = new double[x.length];
        for (int j = 0; j < x.length; j++) d[j] = x[j];
        return d;
    }

    static int prod(int[] d) {
        int p = 1;
        for (int v : d) p *= v;
        return p;
    }

    static long[] longs(int... d) {
        long[] l = new long[d.length];
        for (int j = 0; j < d.length; j++) l[j] = d[j];
        return l;
    }

    Tensor t(float[] v, int... dims) {
        return Tensor.fromFloats(dev, DType.F32, v, longs(dims));
    }

    Tensor zeros(int... dims) {
        Tensor z = Tensor.allocate(dev, DType.F32, longs(dims));
        BasicOps.fill(z, 0f);
        return z;
    }

    /** An output the op must overwrite (=): starts as NaN. */
    Tensor nans(int... dims) {
        Tensor z = Tensor.allocate(dev, DType.F32, longs(dims));
        BasicOps.fill(z, Float.NaN);
        return z;
    }

    // ---------------------------------------------------------------------------------------------
    // Ops

    @Test
    void linear() throws Exception {
        try (Fixture fx = new Fixture("linear")) {
            for (fx.c = 0; fx.c < fx.cases(); fx.c++) {
                int m = fx.i("M"), n = fx.i("N"), k = fx.i("K");
                double[] y = new double[m * n], dx = new double[m * k], dw = new double[n * k], db = new double[n];
                LinearRef.forward(y, fx.d("x"), fx.d("w"), fx.d("b"), m, n, k);
                LinearRef.backward(dx, dw, db, fx.d("dout"), fx.d("x"), fx.d("w"), m, n, k);
                try (Tensor x = t(fx.f("x"), m, k); Tensor w = t(fx.f("w"), n, k); Tensor b = t(fx.f("b"), n); Tensor dy = t(fx.f("dout"), m, n);
                     Tensor ty = nans(m, n); Tensor tdx = nans(m, k); Tensor tdw = zeros(n, k); Tensor tdb = zeros(n)) {
                    LinearOps.forward(ty, x, w, b);
                    LinearOps.backward(tdx, tdw, tdb, dy, x, w);
                    fx.check("out", y, ty.toFloats(), k + 1);   // K products + bias
                    fx.check("dx", dx, tdx.toFloats(), n);
                    fx.check("dw", dw, tdw.toFloats(), m);
                    fx.check("db", db, tdb.toFloats(), m);
                }
            }
        }
    }

    @Test
    void lora() throws Exception {
        try (Fixture fx = new Fixture("lora")) {
            for (fx.c = 0; fx.c < fx.cases(); fx.c++) {
                int m = fx.i("M"), n = fx.i("N"), k = fx.i("K"), r = fx.i("rank");
                double s = fx.dbl("scale");
                double[] y = new double[m * n], h = new double[m * r], dx = new double[m * k], dDown = new double[r * k], dUp = new double[n * r], db = new double[n];
                double[] dout = fx.d("dout");
                LoraRef.forward(y, h, fx.d("x"), fx.d("w"), fx.d("b"), fx.d("down"), fx.d("up"), s, m, n, k, r);
                LoraRef.backward(dx, dDown, dUp, dout, fx.d("x"), h, fx.d("w"), fx.d("down"), fx.d("up"), s, m, n, k, r);
                for (int row = 0; row < m; row++) for (int j = 0; j < n; j++) db[j] += dout[row * n + j];
                try (Tensor x = t(fx.f("x"), m, k); Tensor w = t(fx.f("w"), n, k); Tensor b = t(fx.f("b"), n); Tensor down = t(fx.f("down"), r, k);
                     Tensor up = t(fx.f("up"), n, r); Tensor dy = t(fx.f("dout"), m, n); Tensor ty = nans(m, n); Tensor th = nans(m, r);
                     Tensor tdx = nans(m, k); Tensor tdh = nans(m, r); Tensor tdDown = zeros(r, k); Tensor tdUp = zeros(n, r); Tensor tdb = zeros(n)) {
                    LoraOps.forward(ty, th, x, w, b, down, up, (float) s);
                    LoraOps.backward(tdx, tdDown, tdUp, tdb, tdh, dy, x, th, w, down, up, (float) s);
                    fx.check("out", y, ty.toFloats(), k + 1 + r + k);     // x W^T + b, plus r terms of h (each K long)
                    fx.check("dx", dx, tdx.toFloats(), n + r + n);        // dy W + dh down, dh N long
                    fx.check("ddown", dDown, tdDown.toFloats(), m + n);   // dh^T x, dh N long
                    fx.check("dup", dUp, tdUp.toFloats(), m + k);         // dy^T h, h K long
                    fx.check("db", db, tdb.toFloats(), m);
                }
            }
        }
    }

    @Test
    void conv2d() throws Exception {
        try (Fixture fx = new Fixture("conv2d")) {
            for (fx.c = 0; fx.c < fx.cases(); fx.c++) {
                int n = fx.i("N"), cin = fx.i("Cin"), h = fx.i("H"), w = fx.i("W"), cout = fx.i("Cout");
                Conv2dParams p = switch (fx.s("geometry")) {
                    case "same3x3" -> Conv2dParams.same3x3(n, cin, h, w, cout);
                    case "down3x3" -> Conv2dParams.down3x3(n, cin, h, w, cout);
                    case "vaeDown3x3" -> Conv2dParams.vaeDown3x3(n, cin, h, w, cout);
                    case "pointwise" -> Conv2dParams.pointwise(n, cin, h, w, cout);
                    default -> throw new AssertionError(fx.s("geometry"));
                };
                int kk = p.k() * p.k(), ho = p.hOut(), wo = p.wOut();
                double[] out = new double[n * cout * ho * wo], dx = new double[n * cin * h * w], dw = new double[cout * cin * kk], db = new double[cout];
                Conv2dRef.forward(out, fx.d("x"), fx.d("w"), fx.d("b"), p);
                Conv2dRef.backward(dx, dw, db, fx.d("dout"), fx.d("x"), fx.d("w"), p);
                long wsBytes = Conv2dOps.workspaceBytes(p);
                try (Tensor x = t(fx.f("x"), n, cin, h, w); Tensor wt = t(fx.f("w"), cout, cin, p.k(), p.k()); Tensor b = t(fx.f("b"), cout);
                     Tensor dout = t(fx.f("dout"), n, cout, ho, wo); Tensor to = nans(n, cout, ho, wo); Tensor tdx = nans(n, cin, h, w);
                     Tensor tdw = zeros(cout, cin, p.k(), p.k()); Tensor tdb = zeros(cout); DeviceBuffer ws = wsBytes == 0 ? null : dev.allocate(wsBytes)) {
                    Conv2dOps.forward(to, x, wt, b, ws, p);
                    Conv2dOps.backwardInput(tdx, dout, wt, ws, p);
                    Conv2dOps.backwardWeight(tdw, tdb, dout, x, ws, p);
                    fx.check("out", out, to.toFloats(), cin * kk + 1);   // Cin K K products + bias
                    fx.check("dx", dx, tdx.toFloats(), cout * kk);       // at most Cout K K outputs read a pixel
                    fx.check("dw", dw, tdw.toFloats(), n * ho * wo);     // over images and output pixels
                    fx.check("db", db, tdb.toFloats(), n * ho * wo);
                }
            }
        }
    }

    @Test
    void groupnorm() throws Exception {
        try (Fixture fx = new Fixture("groupnorm")) {
            for (fx.c = 0; fx.c < fx.cases(); fx.c++) {
                int n = fx.i("N"), ch = fx.i("C"), hw = fx.i("H") * fx.i("W"), g = fx.i("groups");
                double eps = fx.dbl("eps");
                boolean silu = fx.bool("silu");
                double[] out = new double[n * ch * hw], mean = new double[n * g], rstd = new double[n * g], dx = new double[n * ch * hw],
                        dgamma = new double[ch], dbeta = new double[ch];
                NormRef.groupnormForward(out, mean, rstd, fx.d("x"), fx.d("gamma"), fx.d("beta"), n, ch, hw, g, eps, silu);
                NormRef.groupnormBackward(dx, dgamma, dbeta, fx.d("dout"), fx.d("x"), fx.d("gamma"), fx.d("beta"), mean, rstd, n, ch, hw, g, silu);
                int[] shape = {n, ch, fx.i("H"), fx.i("W")};
                try (Tensor x = t(fx.f("x"), shape); Tensor gamma = t(fx.f("gamma"), ch); Tensor beta = t(fx.f("beta"), ch); Tensor dout = t(fx.f("dout"), shape);
                     Tensor to = nans(shape); Tensor tm = nans(n * g); Tensor tr = nans(n * g); Tensor tdx = nans(shape); Tensor tdg = zeros(ch); Tensor tdb = zeros(ch)) {
                    NormOps.groupnormForward(to, tm, tr, x, gamma, beta, g, (float) eps, silu);
                    NormOps.groupnormBackward(tdx, tdg, tdb, dout, x, gamma, beta, tm, tr, g, silu);
                    int group = ch / g * hw;
                    fx.check("out", out, to.toFloats(), group);      // mean and variance: sums over the group
                    fx.check("dx", dx, tdx.toFloats(), group);       // the two group sums of the backward
                    fx.check("dgamma", dgamma, tdg.toFloats(), group + n * hw);  // x-hat from the group statistics, then the sum
                    fx.check("dbeta", dbeta, tdb.toFloats(), n * hw);
                }
            }
        }
    }

    @Test
    void layernorm() throws Exception {
        try (Fixture fx = new Fixture("layernorm")) {
            for (fx.c = 0; fx.c < fx.cases(); fx.c++) {
                int[] shape = fx.dims("shape");
                int ch = shape[shape.length - 1], rows = prod(shape) / ch;
                double eps = fx.dbl("eps");
                double[] out = new double[rows * ch], mean = new double[rows], rstd = new double[rows], dx = new double[rows * ch], dw = new double[ch], db = new double[ch];
                NormRef.layernormForward(out, mean, rstd, fx.d("x"), fx.d("w"), fx.d("b"), rows, ch, eps);
                NormRef.layernormBackward(dx, dw, db, fx.d("dout"), fx.d("x"), fx.d("w"), mean, rstd, rows, ch);
                try (Tensor x = t(fx.f("x"), shape); Tensor w = t(fx.f("w"), ch); Tensor b = t(fx.f("b"), ch); Tensor dout = t(fx.f("dout"), shape);
                     Tensor to = nans(shape); Tensor tm = nans(rows); Tensor tr = nans(rows); Tensor tdx = nans(shape); Tensor tdw = zeros(ch); Tensor tdb = zeros(ch)) {
                    NormOps.layernormForward(to, tm, tr, x, w, b, (float) eps);
                    NormOps.layernormBackward(tdx, tdw, tdb, dout, x, w, tm, tr);
                    fx.check("out", out, to.toFloats(), ch);
                    fx.check("dx", dx, tdx.toFloats(), ch);
                    fx.check("dw", dw, tdw.toFloats(), ch + rows);     // x-hat from the C-long statistics, then the row sum
                    fx.check("db", db, tdb.toFloats(), rows);
                }
            }
        }
    }

    @Test
    void silu() throws Exception {
        activation("silu", ActivationOps.Kind.SILU, ActivationRef.Kind.SILU);
    }

    @Test
    void gelu() throws Exception {
        activation("gelu", ActivationOps.Kind.GELU, ActivationRef.Kind.GELU);
    }

    @Test
    void quickGelu() throws Exception {
        activation("quick_gelu", ActivationOps.Kind.QUICK_GELU, ActivationRef.Kind.QUICK_GELU);
    }

    private void activation(String op, ActivationOps.Kind kind, ActivationRef.Kind refKind) throws Exception {
        try (Fixture fx = new Fixture(op)) {
            for (fx.c = 0; fx.c < fx.cases(); fx.c++) {
                int[] shape = fx.dims("shape");
                int n = prod(shape);
                double[] out = new double[n], dx = new double[n];
                ActivationRef.forward(refKind, out, fx.d("x"));
                ActivationRef.backward(refKind, dx, fx.d("dout"), fx.d("x"));
                try (Tensor x = t(fx.f("x"), shape); Tensor dout = t(fx.f("dout"), shape); Tensor to = nans(shape); Tensor tdx = nans(shape)) {
                    ActivationOps.forward(kind, to, x);
                    ActivationOps.backward(kind, tdx, dout, x);
                    fx.check("out", out, to.toFloats(), 1);   // elementwise: one rounding beyond torch's own
                    fx.check("dx", dx, tdx.toFloats(), 1);
                }
            }
        }
    }

    @Test
    void geglu() throws Exception {
        try (Fixture fx = new Fixture("geglu")) {
            for (fx.c = 0; fx.c < fx.cases(); fx.c++) {
                int rows = fx.i("rows"), f = fx.i("F");
                double[] out = new double[rows * f], dx = new double[rows * 2 * f];
                ActivationRef.gegluForward(out, fx.d("x"), rows, f);
                ActivationRef.gegluBackward(dx, fx.d("dout"), fx.d("x"), rows, f);
                try (Tensor x = t(fx.f("x"), rows, 2 * f); Tensor dout = t(fx.f("dout"), rows, f); Tensor to = nans(rows, f); Tensor tdx = nans(rows, 2 * f)) {
                    ActivationOps.geglu(to, x);
                    ActivationOps.gegluBackward(tdx, dout, x);
                    fx.check("out", out, to.toFloats(), 1);
                    fx.check("dx", dx, tdx.toFloats(), 1);
                }
            }
        }
    }

    @Test
    void upsample() throws Exception {
        try (Fixture fx = new Fixture("upsample")) {
            for (fx.c = 0; fx.c < fx.cases(); fx.c++) {
                int[] s = fx.dims("shape");
                int planes = s[0] * s[1], h = s[2], w = s[3];
                double[] out = new double[planes * 4 * h * w], dx = new double[planes * h * w];
                ShapeRef.upsampleNearest2xForward(out, fx.d("x"), planes, h, w);
                ShapeRef.upsampleNearest2xBackward(dx, fx.d("dout"), planes, h, w);
                try (Tensor x = t(fx.f("x"), s); Tensor dout = t(fx.f("dout"), s[0], s[1], 2 * h, 2 * w); Tensor to = nans(s[0], s[1], 2 * h, 2 * w);
                     Tensor tdx = nans(s)) {
                    ShapeOps.upsampleNearest2x(to, x);
                    ShapeOps.upsampleNearest2xBackward(tdx, dout);
                    fx.check("out", out, to.toFloats(), 0);   // a copy: exact
                    fx.check("dx", dx, tdx.toFloats(), 4);    // sum of the 2x2 children
                }
            }
        }
    }

    @Test
    void cat() throws Exception {
        try (Fixture fx = new Fixture("cat")) {
            for (fx.c = 0; fx.c < fx.cases(); fx.c++) {
                int n = fx.i("N"), ca = fx.i("Ca"), cb = fx.i("Cb"), h = fx.i("H"), w = fx.i("W"), hw = h * w;
                double[] out = new double[n * (ca + cb) * hw], da = new double[n * ca * hw], db = new double[n * cb * hw];
                ShapeRef.concatChannelsForward(out, fx.d("a"), fx.d("b"), n, ca, cb, hw);
                ShapeRef.concatChannelsBackward(da, db, fx.d("dout"), n, ca, cb, hw);
                try (Tensor a = t(fx.f("a"), n, ca, h, w); Tensor b = t(fx.f("b"), n, cb, h, w); Tensor dout = t(fx.f("dout"), n, ca + cb, h, w);
                     Tensor to = nans(n, ca + cb, h, w); Tensor tda = nans(n, ca, h, w); Tensor tdb = nans(n, cb, h, w)) {
                    ShapeOps.concatChannels(to, a, b);
                    ShapeOps.concatChannelsBackward(tda, tdb, dout);
                    fx.check("out", out, to.toFloats(), 0);   // copies: exact
                    fx.check("da", da, tda.toFloats(), 0);
                    fx.check("db", db, tdb.toFloats(), 0);
                }
            }
        }
    }

    @Test
    void timestep() throws Exception {
        try (Fixture fx = new Fixture("timestep")) {
            for (fx.c = 0; fx.c < fx.cases(); fx.c++) {
                int n = fx.i("N"), dim = fx.i("dim");
                boolean flip = fx.bool("flipSinToCos");
                double shift = fx.dbl("shift"), period = fx.dbl("maxPeriod");
                double[] out = new double[n * dim];
                ShapeRef.timestepEmbedding(out, fx.d("t"), n, dim, flip, shift, period);
                try (Tensor t = t(fx.f("t"), n); Tensor to = nans(n, dim)) {
                    ShapeOps.timestepEmbedding(to, t, flip, (float) shift, (float) period);
                    // "out.f32" is diffusers' own get_timestep_embedding (float32): the kernel follows its float
                    // operations, so 2x its error is the budget (its argument t freq is known to float precision only)
                    fx.check("out", out, to.toFloats(), 1);
                }
            }
        }
    }

    @Test
    void embedding() throws Exception {
        try (Fixture fx = new Fixture("embedding")) {
            for (fx.c = 0; fx.c < fx.cases(); fx.c++) {
                int b = fx.i("B"), tt = fx.i("T"), v = fx.i("V"), p = fx.i("P"), ch = fx.i("C");
                int[] ids = fx.ints("ids");
                double[] out = new double[b * tt * ch], dtok = new double[v * ch], dpos = new double[p * ch];
                ShapeRef.embeddingForward(out, ids, fx.d("tok"), fx.d("pos"), b, tt, ch);
                ShapeRef.embeddingBackward(dtok, dpos, fx.d("dout"), ids, b, tt, ch);
                try (Tensor tids = Tensor.fromInts(dev, ids, b, tt); Tensor tok = t(fx.f("tok"), v, ch); Tensor pos = t(fx.f("pos"), p, ch);
                     Tensor dout = t(fx.f("dout"), b, tt, ch); Tensor to = nans(b, tt, ch); Tensor tdtok = zeros(v, ch); Tensor tdpos = zeros(p, ch)) {
                    ShapeOps.embedding(to, tids, tok, pos);
                    ShapeOps.embeddingBackward(tdtok, tdpos, dout, tids);
                    fx.check("out", out, to.toFloats(), 1);          // one addition
                    fx.check("dtok", dtok, tdtok.toFloats(), b * tt); // an id repeats at most B T times
                    fx.check("dpos", dpos, tdpos.toFloats(), b);      // batch sum
                }
            }
        }
    }

    @Test
    void attention() throws Exception {
        try (Fixture fx = new Fixture("attention")) {
            for (fx.c = 0; fx.c < fx.cases(); fx.c++) {
                int b = fx.i("B"), h = fx.i("H"), tq = fx.i("Tq"), tk = fx.i("Tk"), d = fx.i("D");
                AttentionParams p = AttentionParams.packed(b, h, tq, tk, d, fx.bool("causal"));
                assertEquals(fx.dbl("scale"), p.scale(), 0.0, "attention: the fixture's scale is AttentionParams.packed's float 1/sqrt(D)");
                double[] out = new double[b * tq * h * d], lse = new double[b * h * tq], dq = new double[b * tq * h * d], dk = new double[b * tk * h * d],
                        dv = new double[b * tk * h * d];
                AttentionRef.forward(out, lse, fx.d("q"), fx.d("k"), fx.d("v"), p);
                AttentionRef.backward(dq, dk, dv, fx.d("dout"), fx.d("q"), fx.d("k"), fx.d("v"), p);
                try (Tensor q = t(fx.f("q"), b, tq, h, d); Tensor k = t(fx.f("k"), b, tk, h, d); Tensor v = t(fx.f("v"), b, tk, h, d);
                     Tensor dout = t(fx.f("dout"), b, tq, h, d); Tensor to = nans(b, tq, h, d); Tensor tl = nans(b, h, tq); Tensor delta = nans(b, h, tq);
                     Tensor tdq = nans(b, tq, h, d); Tensor tdk = nans(b, tk, h, d); Tensor tdv = nans(b, tk, h, d)) {
                    AttentionOps.forward(to, tl, q, k, v, p);
                    AttentionOps.backward(tdq, tdk, tdv, delta, dout, to, tl, q, k, v, p);
                    // S: D products; softmax and P V: Tk terms; gradients add a sum over the other sequence
                    fx.check("out", out, to.toFloats(), d + 2 * tk);
                    fx.check("lse", lse, tl.toFloats(), d + tk);
                    fx.check("dq", dq, tdq.toFloats(), 2 * d + 2 * tk);
                    fx.check("dk", dk, tdk.toFloats(), 2 * d + tk + tq);
                    fx.check("dv", dv, tdv.toFloats(), d + tk + tq);
                }
            }
        }
    }

    @Test
    void mse() throws Exception {
        try (Fixture fx = new Fixture("mse")) {
            for (fx.c = 0; fx.c < fx.cases(); fx.c++) {
                int[] s = fx.dims("shape");
                int n = prod(s), batch = s[0];
                double gs = fx.dbl("gradScale");
                double[] dpred = new double[n];
                double[] loss = {LossRef.mseWeighted(fx.d("pred"), fx.d("target"), fx.d("weight"), batch, n / batch)};
                LossRef.mseWeightedBackward(dpred, fx.d("pred"), fx.d("target"), fx.d("weight"), gs, batch, n / batch);
                try (Tensor pred = t(fx.f("pred"), s); Tensor target = t(fx.f("target"), s); Tensor w = t(fx.f("weight"), batch);
                     Tensor tl = nans(1); Tensor tdp = nans(s)) {
                    LossOps.mseWeighted(tl, tdp, pred, target, w, (float) gs);
                    fx.check("loss", loss, tl.toFloats(), n);   // a sum over every element
                    fx.check("dpred", dpred, tdp.toFloats(), 1);
                }
            }
        }
    }

    @Test
    void adamw() throws Exception {
        optimizer("adamw", true);
    }

    @Test
    void lion() throws Exception {
        optimizer("lion", false);
    }

    private void optimizer(String op, boolean adam) throws Exception {
        try (Fixture fx = new Fixture(op)) {
            for (fx.c = 0; fx.c < fx.cases(); fx.c++) {
                int nt = fx.i("tensors");
                double lr = fx.dbl("lr"), b1 = fx.dbl("beta1"), b2 = fx.dbl("beta2"), wd = fx.dbl("weightDecay"), maxNorm = fx.dbl("maxNorm");
                double[][] p = new double[nt][], g = new double[nt][], m = new double[nt][], v = new double[nt][];
                double[] lrScale = new double[nt], wds = new double[nt];
                List<Tensor> owned = new ArrayList<>();
                List<OptimizerOps.Slot> slots = new ArrayList<>();
                try {
                    for (int j = 0; j < nt; j++) {
                        p[j] = fx.d("p" + j);
                        g[j] = fx.d("g" + j);
                        m[j] = fx.d("m" + j);
                        v[j] = adam ? fx.d("v" + j) : null;
                        lrScale[j] = 1;
                        wds[j] = wd;
                        Tensor tp = t(fx.f("p" + j), p[j].length), tg = t(fx.f("g" + j), p[j].length), tm = t(fx.f("m" + j), p[j].length);
                        Tensor tv = adam ? t(fx.f("v" + j), p[j].length) : null;
                        owned.add(tp);
                        owned.add(tg);
                        owned.add(tm);
                        if (tv != null) owned.add(tv);
                        slots.add(new OptimizerOps.Slot(tp, tg, tm, tv, 1f, (float) wd));
                    }
                    double gradScale = OptimizerRef.gradScale(OptimizerRef.gradNorm(g, 1), 1, maxNorm);
                    try (OptimizerOps.ParamSet set = OptimizerOps.ParamSet.create(slots)) {
                        OptimizerOps.gradNorm(set, 1f);
                        if (adam) {
                            double eps = fx.dbl("eps");
                            int step = fx.i("t");
                            OptimizerRef.adamw(p, g, m, v, lrScale, wds, lr, b1, b2, eps, step, gradScale);
                            OptimizerOps.adamw(set, new OptimizerOps.AdamW(lr, b1, b2, eps), step, 1f, (float) maxNorm);
                        } else {
                            OptimizerRef.lion(p, g, m, lrScale, wds, lr, b1, b2, gradScale);
                            OptimizerOps.lion(set, new OptimizerOps.Lion(lr, b1, b2), 1f, (float) maxNorm);
                        }
                    }
                    // elementwise updates: a few roundings each, which PyTorch float32 makes too; the global norm
                    // (clipping) sums every gradient element
                    int all = 0;
                    for (double[] x : p) all += x.length;
                    for (int j = 0; j < nt; j++) {
                        OptimizerOps.Slot s = slots.get(j);
                        double terms = maxNorm > 0 ? all : 1;
                        fx.check("p" + j + "_new", p[j], s.param().toFloats(), terms);
                        fx.check("m" + j + "_new", m[j], s.m().toFloats(), terms);
                        if (adam) fx.check("v" + j + "_new", v[j], s.v().toFloats(), terms);
                    }
                } finally {
                    for (Tensor x : owned) x.close();
                }
            }
        }
    }
}
