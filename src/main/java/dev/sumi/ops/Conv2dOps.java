package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.device.DeviceBuffer;
import dev.sumi.device.Dim3;
import dev.sumi.device.GemmParams;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Shape;
import dev.sumi.tensor.Tensor;

/**
 * NCHW conv2d as im2col + GEMM (the kernels are in cuda-kernels/conv.cu, the GEMM is
 * {@link Device#gemm}). Shapes, with the geometry in a {@link Conv2dParams} p: x (N, Cin, H, W),
 * weight (Cout, Cin, K, K), bias (Cout), out (N, Cout, Ho, Wo). Storage is F32, F16 or BF16 (x, weight,
 * bias, out and dx share one dtype); every GEMM and every sum accumulates in float. Parameter gradients
 * are F32, since they accumulate ({@code +=}) over images, micro-batches and steps.
 *
 * <p>Per image, with R = Cin*K*K and P = Ho*Wo, the column matrix col (R, P) holds the input patches and
 * out (Cout, P) = weight (Cout, R) col (R, P); dcol (R, P) = weight^T dout; dweight += dout col^T. In
 * cuBLAS's column-major terms out^T = col^T weight^T, one strided-batched GEMM over the images with the
 * weight's batch stride 0. A 1x1 stride-1 unpadded conv (see {@link Conv2dParams#isPointwise}) uses the
 * image itself as col: no im2col, no workspace.
 *
 * <p><b>Workspace.</b> The column matrices live in a caller-provided buffer; nothing is allocated here.
 * {@link #workspaceBytes(Conv2dParams)} sizes it for the whole batch at once;
 * {@link #workspaceBytes(Conv2dParams, int)} for a chunk of images (the VAE at 512x512 needs ~1.2 GB per
 * image), and the ops then loop over the batch in chunks as large as the buffer holds.
 */
public final class Conv2dOps {
    private Conv2dOps() {}

    /** Bytes of workspace that run the whole batch of {@code p} as one chunk (0 for a pointwise conv). */
    public static long workspaceBytes(Conv2dParams p) {
        return workspaceBytes(p, p.n());
    }

    /**
     * Bytes of workspace for {@code imagesPerChunk} images at a time: the F32 dcol of the input gradient,
     * which is also large enough for the column matrix in any storage type. 0 for a pointwise conv.
     */
    public static long workspaceBytes(Conv2dParams p, int imagesPerChunk) {
        if (imagesPerChunk < 1) throw new IllegalArgumentException("conv2d workspaceBytes: imagesPerChunk must be positive, got " + imagesPerChunk);
        if (p.isPointwise()) return 0;
        return Math.multiplyExact(Math.multiplyExact((long) Math.min(imagesPerChunk, p.n()), colElements(p)), (long) DType.F32.byteSize);
    }

    /**
     * out = conv2d(x, weight) + bias ({@code =}); bias may be null. The bias is broadcast into out first and
     * the GEMM adds onto it (beta 1), so each output is rounded to the storage type once.
     * {@code workspace} may be null for a pointwise conv.
     */
    public static void forward(Tensor out, Tensor x, Tensor weight, Tensor bias, DeviceBuffer workspace, Conv2dParams p) {
        String op = "conv2d forward";
        DType t = storage(op, x);
        check(op, "out", out, t, p.outputShape());
        check(op, "x", x, t, p.inputShape());
        check(op, "weight", weight, t, p.weightShape());
        if (bias != null) check(op, "bias", bias, t, p.cout());
        Device d = sameDevice(op, out, x, weight, bias);
        int r = p.patchSize(), pix = p.pixelsOut();
        long outImage = (long) p.cout() * pix, xImage = (long) p.cin() * p.h() * p.w();
        if (bias != null) {
            long total = (long) p.n() * outImage;
            d.launch("conv2d_bias_fill_" + t.kernelSuffix(), Launch.flatGrid(total), Dim3.of(Launch.BLOCK), 0,
                    out, bias, p.n(), p.cout(), (long) pix);
        }
        float beta = bias == null ? 0f : 1f;
        int chunk = p.isPointwise() ? p.n() : chunkImages(op, workspace, p, t, d);
        for (int i0 = 0; i0 < p.n(); i0 += chunk) {
            int c = Math.min(chunk, p.n() - i0);
            Tensor y = out.view(i0 * outImage, c * outImage);
            Tensor xc = x.view(i0 * xImage, c * xImage);
            Tensor col = p.isPointwise() ? xc : im2col(workspace, xc, p.withBatch(c), t);
            // out_i^T (P x Cout) = col_i^T (P x R) weight^T (R x Cout), column-major
            d.gemm(checked(new GemmParams(false, false, pix, p.cout(), r, 1f, col, pix, (long) r * pix,
                    weight, r, 0, beta, y, pix, outImage, c)));
        }
    }

    /** dx = the gradient of sum(out * dout) with respect to x ({@code =}). {@code workspace} may be null for a pointwise conv. */
    public static void backwardInput(Tensor dx, Tensor dout, Tensor weight, DeviceBuffer workspace, Conv2dParams p) {
        String op = "conv2d backwardInput";
        DType t = storage(op, dout);
        check(op, "dx", dx, t, p.inputShape());
        check(op, "dout", dout, t, p.outputShape());
        check(op, "weight", weight, t, p.weightShape());
        Device d = sameDevice(op, dx, dout, weight);
        int r = p.patchSize(), pix = p.pixelsOut();
        long outImage = (long) p.cout() * pix, xImage = (long) p.cin() * p.h() * p.w();
        if (p.isPointwise()) {
            // dx_i^T (P x Cin) = dout_i^T (P x Cout) weight (Cout x Cin): straight into dx, rounded once
            d.gemm(checked(new GemmParams(false, true, pix, r, p.cout(), 1f, dout, pix, outImage, weight, r, 0, 0f, dx, pix, xImage, p.n())));
            return;
        }
        int chunk = chunkImages(op, workspace, p, DType.F32, d);
        for (int i0 = 0; i0 < p.n(); i0 += chunk) {
            int c = Math.min(chunk, p.n() - i0);
            Conv2dParams pc = p.withBatch(c);
            Tensor dcol = Tensor.wrap(workspace.slice(0, colElements(pc) * DType.F32.byteSize), DType.F32, c, r, pix);
            // dcol_i^T (P x R) = dout_i^T (P x Cout) weight (Cout x R), in F32
            d.gemm(checked(new GemmParams(false, true, pix, r, p.cout(), 1f, dout.view(i0 * outImage, c * outImage), pix, outImage,
                    weight, r, 0, 0f, dcol, pix, (long) r * pix, c)));
            Tensor dxc = dx.view(i0 * xImage, c * xImage);
            d.launch("conv2d_col2im_" + t.kernelSuffix(), Launch.flatGrid(c * xImage), Dim3.of(Launch.BLOCK), 0,
                    dxc, dcol, c, p.cin(), p.h(), p.w(), p.k(), p.stride(), p.padTop(), p.padLeft(), p.hOut(), p.wOut());
        }
    }

    /**
     * dweight += the gradient of sum(out * dout) with respect to weight, and dbias likewise (both F32,
     * {@code +=}); dbias may be null. {@code workspace} may be null for a pointwise conv.
     */
    public static void backwardWeight(Tensor dweight, Tensor dbias, Tensor dout, Tensor x, DeviceBuffer workspace, Conv2dParams p) {
        String op = "conv2d backwardWeight";
        DType t = storage(op, x);
        check(op, "dweight", dweight, DType.F32, p.weightShape());
        if (dbias != null) check(op, "dbias", dbias, DType.F32, p.cout());
        check(op, "dout", dout, t, p.outputShape());
        check(op, "x", x, t, p.inputShape());
        Device d = sameDevice(op, dweight, dbias, dout, x);
        int r = p.patchSize(), pix = p.pixelsOut();
        long outImage = (long) p.cout() * pix, xImage = (long) p.cin() * p.h() * p.w();
        if (dbias != null) {
            d.launch("conv2d_bias_backward_" + t.kernelSuffix(), Dim3.of(p.cout()), Launch.rowBlock(d, pix), 0,
                    dbias, dout, p.n(), p.cout(), (long) pix);
        }
        int chunk = p.isPointwise() ? p.n() : chunkImages(op, workspace, p, t, d);
        for (int i0 = 0; i0 < p.n(); i0 += chunk) {
            int c = Math.min(chunk, p.n() - i0);
            Tensor col = p.isPointwise() ? x : im2col(workspace, x.view(i0 * xImage, c * xImage), p.withBatch(c), t);
            long colBase = p.isPointwise() ? i0 * xImage : 0;
            for (int j = 0; j < c; j++) {
                // dweight^T (R x Cout) += col_j (R x P) dout_j^T (P x Cout); one GEMM per image, since the
                // images' products sum into one matrix
                Tensor colj = col.view(colBase + (long) j * r * pix, (long) r * pix);
                Tensor doutj = dout.view((i0 + j) * outImage, outImage);
                d.gemm(checked(GemmParams.of(true, false, r, p.cout(), pix, 1f, colj, pix, doutj, pix, 1f, dweight, r)));
            }
        }
    }

    // ---- helpers ---------------------------------------------------------------------------------

    private static long colElements(Conv2dParams p) {
        return Math.multiplyExact(Math.multiplyExact((long) p.n(), (long) p.patchSize()), (long) p.pixelsOut());
    }

    /** Fills the start of the workspace with col (N, R, P) of {@code x} (N images of p). */
    private static Tensor im2col(DeviceBuffer workspace, Tensor x, Conv2dParams p, DType t) {
        long n = colElements(p), threads = (long) p.n() * p.cin() * p.pixelsOut();   // each writes K*K entries
        Tensor col = Tensor.wrap(workspace.slice(0, n * t.byteSize), t, p.n(), p.patchSize(), p.pixelsOut());
        x.device().launch("conv2d_im2col_" + t.kernelSuffix(), Launch.flatGrid(threads), Dim3.of(Launch.BLOCK), 0,
                col, x, p.n(), p.cin(), p.h(), p.w(), p.k(), p.stride(), p.padTop(), p.padLeft(), p.hOut(), p.wOut());
        return col;
    }

    /** How many images one pass holds, given the workspace and the element type of its matrix. */
    private static int chunkImages(String op, DeviceBuffer workspace, Conv2dParams p, DType element, Device d) {
        long perImage = Math.multiplyExact(colElements(p.withBatch(1)), (long) element.byteSize);
        if (workspace == null) {
            throw new IllegalArgumentException(op + ": " + p + " needs a workspace (Conv2dOps.workspaceBytes), got none");
        }
        if (workspace.device() != d) {
            throw new IllegalArgumentException(op + ": the workspace lives on " + workspace.device().name() + ", not on " + d.name());
        }
        if (workspace.bytes() < perImage) {
            throw new IllegalArgumentException(op + ": workspace of " + workspace.bytes() + " bytes is smaller than the " + perImage
                    + " one image of " + p + " needs (Conv2dOps.workspaceBytes)");
        }
        return (int) Math.min(p.n(), workspace.bytes() / perImage);
    }

    private static GemmParams checked(GemmParams g) {
        g.validate();
        return g;
    }

    private static DType storage(String op, Tensor t) {
        if (t == null) throw new IllegalArgumentException(op + ": missing tensor");
        DType d = t.dtype();
        if (d != DType.F32 && d != DType.F16 && d != DType.BF16) throw new IllegalArgumentException(op + ": " + d + " is not F32, F16 or BF16");
        return d;
    }

    private static void check(String op, String name, Tensor t, DType dtype, long... dims) {
        if (t == null) throw new IllegalArgumentException(op + ": " + name + " is missing");
        if (t.dtype() != dtype) throw new IllegalArgumentException(op + ": " + name + " is " + t.dtype() + ", expected " + dtype);
        Shape want = Shape.of(dims);
        if (!t.shape().equals(want)) throw new IllegalArgumentException(op + ": " + name + " has shape " + t.shape() + ", expected " + want);
    }

    private static Device sameDevice(String op, Tensor first, Tensor... rest) {
        Device d = first.device();
        for (Tensor t : rest) {
            if (t != null && t.device() != d) {
                throw new IllegalArgumentException(op + ": tensors on " + d.name() + " and " + t.device().name());
            }
        }
        return d;
    }
}
