package dev.sumi.ops;

import dev.sumi.device.Dim3;
import dev.sumi.tensor.Tensor;

/**
 * Activations, kernels in cuda-kernels/activation.cu, F64 reference in {@link dev.sumi.ops.ref.ActivationRef}.
 * Forward writes out (=), backward writes dx (=). Math in float whatever the storage type.
 */
public final class ActivationOps {
    private ActivationOps() {}

    public enum Kind {
        /** x * sigmoid(x) */
        SILU("silu"),
        /** 0.5 x (1 + erf(x / sqrt 2)), exact */
        GELU("gelu"),
        /** x * sigmoid(1.702 x), OpenAI CLIP's */
        QUICK_GELU("quick_gelu");

        final String kernel;

        Kind(String kernel) {
            this.kernel = kernel;
        }
    }

    /** out[i] = act(x[i]); out may be x. */
    public static void forward(Kind k, Tensor out, Tensor x) {
        String op = k.kernel + "_forward";
        Checks.sameFloatType(op, x, out);
        Checks.numel(op, "out", out, x.numel());
        launchFlat(op + "_" + x.dtype().kernelSuffix(), x, x.numel(), out, x, x.numel());
    }

    /** dx[i] = dout[i] * act'(x[i]); dx may be dout. */
    public static void backward(Kind k, Tensor dx, Tensor dout, Tensor x) {
        String op = k.kernel + "_backward";
        Checks.sameFloatType(op, x, dx, dout);
        Checks.numel(op, "dx", dx, x.numel());
        Checks.numel(op, "dout", dout, x.numel());
        launchFlat(op + "_" + x.dtype().kernelSuffix(), x, x.numel(), dx, dout, x, x.numel());
    }

    /** out (rows, F) = x[:, :F] * gelu(x[:, F:]) for x (rows, 2F): diffusers' GEGLU after its projection; out must not overlap x. */
    public static void geglu(Tensor out, Tensor x) {
        String op = "geglu";
        Checks.sameFloatType(op, x, out);
        int F = halfWidth(op, x);
        long rows = F == 0 ? 0 : x.numel() / (2L * F);
        Checks.numel(op, "out", out, rows * F);
        if (out.shape().rank() < 1 || out.shape().dim(-1) != F) throw new IllegalArgumentException(op + ": out is " + out.shape() + ", its last dimension must be " + F);
        launchFlat("geglu_forward_" + x.dtype().kernelSuffix(), x, rows * F, out, x, rows, F);
    }

    /** dx (=, rows x 2F) from dout (rows, F) and x. */
    public static void gegluBackward(Tensor dx, Tensor dout, Tensor x) {
        String op = "gegluBackward";
        Checks.sameFloatType(op, x, dx, dout);
        int F = halfWidth(op, x);
        long rows = F == 0 ? 0 : x.numel() / (2L * F);
        Checks.numel(op, "dx", dx, x.numel());
        Checks.numel(op, "dout", dout, rows * F);
        launchFlat("geglu_backward_" + x.dtype().kernelSuffix(), x, rows * F, dx, dout, x, rows, F);
    }

    private static int halfWidth(String op, Tensor x) {
        if (x.shape().rank() < 1 || x.shape().dim(-1) % 2 != 0) throw new IllegalArgumentException(op + ": x's last dimension must be even, x is " + x.shape());
        return Checks.toInt(op, "F", x.shape().dim(-1) / 2);
    }

    private static void launchFlat(String kernel, Tensor on, long n, Object... args) {
        if (n == 0) return;
        on.device().launch(kernel, Launch.flatGrid(n), Dim3.of(Launch.BLOCK), 0, args);
    }
}
