package dev.sumi.ops;

import dev.sumi.device.Dim3;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

/**
 * GroupNorm over NCHW (optionally fused with SiLU) and LayerNorm over the last dimension; kernels in
 * cuda-kernels/norm.cu, F64 reference in {@link dev.sumi.ops.ref.NormRef}. Forward saves mean and
 * rstd in F32; backward writes dx (=) and accumulates the parameter gradients (+=). All reductions run
 * in a fixed order, so results are bit-reproducible on both devices.
 */
public final class NormOps {
    private NormOps() {}

    /** GroupNorm's default group count (SD's UNet and VAE). */
    public static final int GROUPS = 32;
    /** eps of the UNet's GroupNorms and of every LayerNorm; the VAE's GroupNorms use {@link #EPS_VAE}. */
    public static final float EPS = 1e-5f;
    public static final float EPS_VAE = 1e-6f;

    /**
     * out = [silu](gamma[c] * (x - mean) * rstd + beta[c]) per (n, group), x and out (N, C, *spatial);
     * mean, rstd: F32 with N * groups elements; gamma, beta: (C). C must be a multiple of groups.
     */
    public static void groupnormForward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor gamma, Tensor beta,
                                        int groups, float eps, boolean silu) {
        String op = "groupnormForward";
        GroupDims d = GroupDims.of(op, x, groups);
        Checks.sameFloatType(op, x, out, gamma, beta);
        Checks.shape(op, "out", out, x.shape().dims());
        d.checkParams(op, gamma, beta);
        d.checkStats(op, mean, rstd);
        if (x.numel() == 0) return;
        x.device().launch("groupnorm_forward_" + x.dtype().kernelSuffix(), Dim3.of(d.N * groups), Launch.rowBlock(x.device(), d.groupSize()), 0,
                out, mean, rstd, x, gamma, beta, d.N, d.C, d.HW, groups, eps, silu ? 1 : 0);
    }

    /**
     * dx (=) and dgamma, dbeta (+=) from dout, given the forward's x, gamma, beta, mean and rstd (beta is
     * read only when silu is fused, to recompute the pre-activation).
     */
    public static void groupnormBackward(Tensor dx, Tensor dgamma, Tensor dbeta, Tensor dout, Tensor x, Tensor gamma, Tensor beta,
                                         Tensor mean, Tensor rstd, int groups, boolean silu) {
        String op = "groupnormBackward";
        GroupDims d = GroupDims.of(op, x, groups);
        Checks.sameFloatType(op, x, dx, dgamma, dbeta, dout, gamma, beta);
        Checks.shape(op, "dx", dx, x.shape().dims());
        Checks.shape(op, "dout", dout, x.shape().dims());
        d.checkParams(op, gamma, beta);
        d.checkParams(op, dgamma, dbeta);
        d.checkStats(op, mean, rstd);
        if (x.numel() == 0) return;
        String s = x.dtype().kernelSuffix();
        x.device().launch("groupnorm_backward_input_" + s, Dim3.of(d.N * groups), Launch.rowBlock(x.device(), d.groupSize()), 0,
                dx, dout, x, gamma, beta, mean, rstd, d.N, d.C, d.HW, groups, silu ? 1 : 0);
        x.device().launch("groupnorm_backward_params_" + s, Dim3.of(d.C), Launch.rowBlock(x.device(), d.HW), 0,
                dgamma, dbeta, dout, x, gamma, beta, mean, rstd, d.N, d.C, d.HW, groups, silu ? 1 : 0);
    }

    /** out = weight * (x - mean) * rstd + bias over the last dimension C of x; mean, rstd: F32, numel / C elements. */
    public static void layernormForward(Tensor out, Tensor mean, Tensor rstd, Tensor x, Tensor weight, Tensor bias, float eps) {
        String op = "layernormForward";
        Checks.sameFloatType(op, x, out, weight, bias);
        Checks.shape(op, "out", out, x.shape().dims());
        int C = lastDim(op, x), rows = rows(op, x, C);
        Checks.shape(op, "weight", weight, C);
        Checks.shape(op, "bias", bias, C);
        stats(op, x, mean, rstd, rows);
        if (x.numel() == 0) return;
        x.device().launch("layernorm_forward_" + x.dtype().kernelSuffix(), Dim3.of(rows), Launch.rowBlock(x.device(), C), 0,
                out, mean, rstd, x, weight, bias, rows, C, eps);
    }

    /** dx (=) and dweight, dbias (+=) from dout, given the forward's x, weight, mean and rstd. */
    public static void layernormBackward(Tensor dx, Tensor dweight, Tensor dbias, Tensor dout, Tensor x, Tensor weight,
                                         Tensor mean, Tensor rstd) {
        String op = "layernormBackward";
        Checks.sameFloatType(op, x, dx, dweight, dbias, dout, weight);
        Checks.shape(op, "dx", dx, x.shape().dims());
        Checks.shape(op, "dout", dout, x.shape().dims());
        int C = lastDim(op, x), rows = rows(op, x, C);
        for (Tensor t : new Tensor[] {weight, dweight, dbias}) Checks.shape(op, "weight/dweight/dbias", t, C);
        stats(op, x, mean, rstd, rows);
        if (x.numel() == 0) return;
        String s = x.dtype().kernelSuffix();
        x.device().launch("layernorm_backward_input_" + s, Dim3.of(rows), Launch.rowBlock(x.device(), C), 0,
                dx, dout, x, weight, mean, rstd, rows, C);
        x.device().launch("layernorm_backward_params_" + s, Launch.flatGrid(C), Dim3.of(Launch.BLOCK), 0,
                dweight, dbias, dout, x, mean, rstd, rows, C);
    }

    private static int lastDim(String op, Tensor x) {
        if (x.shape().rank() < 1) throw new IllegalArgumentException(op + ": x must have a last dimension");
        return Checks.toInt(op, "C", x.shape().dim(-1));
    }

    private static int rows(String op, Tensor x, int C) {
        return Checks.toInt(op, "rows", C == 0 ? 0 : x.numel() / C);
    }

    private static void stats(String op, Tensor x, Tensor mean, Tensor rstd, long n) {
        Checks.dtype(op, "mean", mean, DType.F32);
        Checks.dtype(op, "rstd", rstd, DType.F32);
        Checks.numel(op, "mean", mean, n);
        Checks.numel(op, "rstd", rstd, n);
        Checks.sameDevice(op, x, mean);
        Checks.sameDevice(op, x, rstd);
    }

    /** N, C and HW (product of the spatial dims) of an (N, C, *spatial) tensor split into groups. */
    private record GroupDims(int N, int C, int HW, int groups) {
        static GroupDims of(String op, Tensor x, int groups) {
            long[] dims = x.shape().dims();
            if (dims.length < 2) throw new IllegalArgumentException(op + ": x must be (N, C, ...), not " + x.shape());
            long hw = 1;
            for (int i = 2; i < dims.length; i++) hw = Math.multiplyExact(hw, dims[i]);
            if (groups <= 0 || dims[1] % groups != 0) {
                throw new IllegalArgumentException(op + ": " + dims[1] + " channels do not split into " + groups + " groups");
            }
            GroupDims d = new GroupDims(Checks.toInt(op, "N", dims[0]), Checks.toInt(op, "C", dims[1]), Checks.toInt(op, "HW", hw), groups);
            Checks.toInt(op, "N * groups", (long) d.N * groups);
            return d;
        }

        long groupSize() {
            return (long) (C / groups) * HW;
        }

        void checkParams(String op, Tensor a, Tensor b) {
            Checks.shape(op, "gamma/beta", a, C);
            Checks.shape(op, "gamma/beta", b, C);
        }

        void checkStats(String op, Tensor mean, Tensor rstd) {
            for (Tensor t : new Tensor[] {mean, rstd}) {
                Checks.dtype(op, "mean/rstd", t, DType.F32);
                Checks.numel(op, "mean/rstd", t, (long) N * groups);
            }
        }
    }
}
