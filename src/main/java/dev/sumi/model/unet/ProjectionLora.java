package dev.sumi.model.unet;

import dev.sumi.device.Device;
import dev.sumi.device.GemmParams;
import dev.sumi.lora.AdaptedLinear;
import dev.sumi.lora.LoraAdapter;
import dev.sumi.ops.LinearOps;
import dev.sumi.tensor.Tensor;

/**
 * The LoRA branch of a SpatialTransformer's proj_in or proj_out (a 1x1 conv in SD 1.x, a Linear in SD 2.x:
 * the same (C, C) memory), which read or write the NCHW image transposed. proj_in: tokens (B, N, C) +=
 * s (gn^T down^T) up^T with h = gn^T down^T (B, N, r); proj_out: out (B, C, N) += s ((t down^T) up^T)^T
 * with h = t down^T (B, N, r). The backward adds into the input gradient and accumulates down's and up's
 * F32 gradients ({@code +=}).
 */
final class ProjectionLora {
    private final Device device;
    private final LoraAdapter lora;
    private final Tensor h, dh;    // (B, N, r) saved, scratch (null when built forward-only)
    private final int rows, channels, rank;

    ProjectionLora(String where, Device device, LoraAdapter lora, int kernel, int batch, int channels, int pixels,
                   AdaptedLinear.Allocator alloc, AdaptedLinear.Allocator scratch) {
        lora.check(where, channels, channels, kernel, lora.down().dtype());
        this.device = device;
        this.lora = lora;
        this.rows = batch * pixels;
        this.channels = channels;
        this.rank = lora.rank();
        h = alloc.alloc(lora.down().dtype(), batch, pixels, rank);
        dh = scratch.alloc(lora.down().dtype(), batch, pixels, rank);
    }

    /** proj_in's branch: tokens (B, N, C) += s (gn (B, C, N)^T down^T) up^T. */
    void inForward(Tensor tokens, Tensor gn) {
        ImageTokenGemms.imageToTokens(device, h, gn, lora.downMatrix(), 1f, 0f);
        // tokens^T (C x BN, ld C) += s op(up: col-major r x C, ld r)^T h^T (r x BN, ld r)
        device.gemm(GemmParams.of(true, false, channels, rows, rank, lora.scale(), lora.upMatrix(), rank, h, rank, 1f, tokens, channels));
    }

    /** proj_in's branch backward for dTokens (B, N, C): dGn (B, C, N) +=, gradients +=. */
    void inBackward(Tensor dGn, Tensor dTokens, Tensor gn) {
        float s = lora.scale();
        // dUp^T (r x C, ld r) += s h^T (r x BN) dTokens (BN x C)
        device.gemm(GemmParams.of(false, true, rank, channels, rows, s, h, rank, dTokens, channels, 1f, lora.gradUpMatrix(), rank));
        // dh^T (r x BN, ld r) = s up^T (r x C, up as stored) dTokens^T (C x BN)
        device.gemm(GemmParams.of(false, false, rank, rows, channels, s, lora.upMatrix(), rank, dTokens, channels, 0f, dh, rank));
        ImageTokenGemms.weightGradTokensImage(device, lora.gradDownMatrix(), dh, gn);
        ImageTokenGemms.tokensToImage(device, dGn, dh, lora.downMatrix(), 1f);
    }

    /** proj_out's branch: out (B, C, N) += s ((t (B, N, C) down^T) up^T)^T. */
    void outForward(Tensor out, Tensor t) {
        LinearOps.forward(h, t, lora.downMatrix(), null);
        ImageTokenGemms.tokensToImageAdd(device, out, h, lora.upMatrix(), lora.scale());
    }

    /** proj_out's branch backward for dOut (B, C, N): dT (B, N, C) +=, gradients +=. */
    void outBackward(Tensor dT, Tensor dOut, Tensor t) {
        float s = lora.scale();
        ImageTokenGemms.imageGradToTokens(device, dh, dOut, lora.upMatrix(), s, 0f);
        ImageTokenGemms.weightGradImageTokens(device, lora.gradUpMatrix(), dOut, h, s);
        // dDown^T (C x r, ld C) += t^T (C x BN) dh (BN x r)
        device.gemm(GemmParams.of(false, true, channels, rank, rows, 1f, t, channels, dh, rank, 1f, lora.gradDownMatrix(), channels));
        // dT^T (C x BN, ld C) += down^T (C x r, down as stored) dh^T (r x BN)
        device.gemm(GemmParams.of(false, false, channels, rows, rank, 1f, lora.downMatrix(), channels, dh, rank, 1f, dT, channels));
    }
}
