package dev.sumi.model.unet;

import dev.sumi.device.Device;
import dev.sumi.device.GemmParams;
import dev.sumi.tensor.Tensor;

/**
 * The UNet's layout-changing products, each one strided-batched GEMM over the B images and no kernel of its
 * own: an image x (B, C, N) (NCHW, N = H W) read transposed as tokens (B, N, C), and back. A weight w (O, I)
 * is row-major; the comments give each operand in cuBLAS's column-major terms. proj_in / proj_out and their
 * LoRA branches use them (a 1x1-conv weight (O, I, 1, 1) has a Linear weight's memory).
 */
final class ImageTokenGemms {
    private ImageTokenGemms() {}

    /** tokens (B, N, O) = alpha x (B, I, N)^T w (O, I)^T + beta tokens. */
    static void imageToTokens(Device d, Tensor tokens, Tensor x, Tensor w, float alpha, float beta) {
        int B = (int) x.shape().dim(0), I = (int) x.shape().dim(1), N = (int) (x.numel() / ((long) B * I)), O = (int) w.shape().dim(0);
        // tokens_b^T (O x N, ld O) = op(w: col-major I x O, ld I)^T op(x_b: col-major N x I, ld N)^T
        d.gemm(new GemmParams(true, true, O, N, I, alpha, w, I, 0, x, N, (long) I * N, beta, tokens, O, (long) N * O, B));
    }

    /** image (B, I, N) = beta image + (tokens (B, N, O) w (O, I))^T: the input gradient of {@link #imageToTokens}. */
    static void tokensToImage(Device d, Tensor image, Tensor tokens, Tensor w, float beta) {
        int B = (int) image.shape().dim(0), I = (int) image.shape().dim(1), N = (int) (image.numel() / ((long) B * I)), O = (int) w.shape().dim(0);
        // image_b^T (N x I, ld N) = op(tokens_b: col-major O x N, ld O)^T op(w: col-major I x O, ld I)^T
        d.gemm(new GemmParams(true, true, N, I, O, 1f, tokens, O, (long) N * O, w, I, 0, beta, image, N, (long) I * N, B));
    }

    /** out (B, O, N) += alpha (tokens (B, N, K) w (O, K)^T)^T: proj_out writing NCHW onto what out holds. */
    static void tokensToImageAdd(Device d, Tensor out, Tensor tokens, Tensor w, float alpha) {
        int B = (int) out.shape().dim(0), O = (int) out.shape().dim(1), N = (int) (out.numel() / ((long) B * O)), K = (int) w.shape().dim(1);
        // out_b^T (N x O, ld N) += op(tokens_b: col-major K x N, ld K)^T op(w: col-major K x O, ld K)
        d.gemm(new GemmParams(true, false, N, O, K, alpha, tokens, K, (long) N * K, w, K, 0, 1f, out, N, (long) O * N, B));
    }

    /** dTokens (B, N, K) = alpha dOut (B, O, N)^T w (O, K) + beta dTokens: the tokens' gradient of {@link #tokensToImageAdd}. */
    static void imageGradToTokens(Device d, Tensor dTokens, Tensor dOut, Tensor w, float alpha, float beta) {
        int B = (int) dOut.shape().dim(0), O = (int) dOut.shape().dim(1), N = (int) (dOut.numel() / ((long) B * O)), K = (int) w.shape().dim(1);
        // dTokens_b^T (K x N, ld K) = (w: col-major K x O, ld K) op(dOut_b: col-major N x O, ld N)^T
        d.gemm(new GemmParams(false, true, K, N, O, alpha, w, K, 0, dOut, N, (long) O * N, beta, dTokens, K, (long) N * K, B));
    }

    /**
     * dW (O, K) += alpha sum_b image_b (O, N) tokens_b (N, K), for a weight gradient with the image side
     * NCHW; one GEMM per image, since a batched GEMM may not accumulate the images into one C concurrently.
     */
    static void weightGradImageTokens(Device d, Tensor dW, Tensor image, Tensor tokens, float alpha) {
        int B = (int) image.shape().dim(0), O = (int) image.shape().dim(1), N = (int) (image.numel() / ((long) B * O)), K = (int) dW.shape().dim(1);
        for (int b = 0; b < B; b++) {
            Tensor img = image.view((long) b * O * N, O, N), tok = tokens.view((long) b * N * K, N, K);
            // dW^T (K x O, ld K) += (tok: col-major K x N, ld K) (img: col-major N x O, ld N)
            d.gemm(GemmParams.of(false, false, K, O, N, alpha, tok, K, img, N, 1f, dW, K));
        }
    }

    /** dW (O, I) += sum_b tokens_b (N, O)^T image_b (I, N)^T: the weight gradient of {@link #imageToTokens}, one GEMM per image. */
    static void weightGradTokensImage(Device d, Tensor dW, Tensor tokens, Tensor image) {
        int B = (int) image.shape().dim(0), I = (int) image.shape().dim(1), N = (int) (image.numel() / ((long) B * I)), O = (int) dW.shape().dim(0);
        for (int b = 0; b < B; b++) {
            Tensor img = image.view((long) b * I * N, I, N), tok = tokens.view((long) b * N * O, N, O);
            // dW^T (I x O, ld I) += op(img: col-major N x I, ld N)^T op(tok: col-major O x N, ld O)^T
            d.gemm(GemmParams.of(true, true, I, O, N, 1f, img, N, tok, O, 1f, dW, I));
        }
    }

    /** h (B, C, N) += e_b[c] for every pixel: per image the rank-1 product ones(N) e_b^T; eStride 0 broadcasts one e. */
    static void addPerChannel(Device d, Tensor h, Tensor e, long eStride, Tensor ones) {
        int B = (int) h.shape().dim(0), C = (int) h.shape().dim(1), N = (int) (h.numel() / ((long) B * C));
        // h_b^T (N x C, ld N) += ones (N x 1) * e_b (1 x C, ld 1)
        d.gemm(new GemmParams(false, false, N, C, 1, 1f, ones, N, 0, e, 1, eStride, 1f, h, N, (long) C * N, B));
    }

    /** e (B, C) = sum over pixels of h (B, C, N): the gradient of {@link #addPerChannel}'s e (=). */
    static void sumPerChannel(Device d, Tensor e, Tensor h, Tensor ones) {
        int B = (int) h.shape().dim(0), C = (int) h.shape().dim(1), N = (int) (h.numel() / ((long) B * C));
        // e_b (1 x C, ld 1) = ones^T (1 x N) h_b^T (N x C, ld N)
        d.gemm(new GemmParams(true, false, 1, C, N, 1f, ones, N, 0, h, N, (long) C * N, 0f, e, 1, C, B));
    }
}
