package dev.sumi.lora;

import dev.sumi.device.DeviceBuffer;
import dev.sumi.device.GemmParams;
import dev.sumi.ops.BasicOps;
import dev.sumi.ops.Conv2dOps;
import dev.sumi.ops.Conv2dParams;
import dev.sumi.tensor.Tensor;

/**
 * A frozen conv of a network, with a LoCon module when its {@link Adapters} put one there (kohya's conv
 * {@code LoRAModule}): down is a conv (r, Cin, k, k) with the base conv's stride and padding, up a 1x1 conv
 * (Cout, r), y = conv(x, W) + b + s up(down(x)). The backward gives the input gradient through both paths
 * and accumulates ({@code +=}) the F32 gradients of down and up.
 *
 * <pre>
 * x (B, Cin, H, W), y (B, Cout, Ho, Wo), P = Ho Wo; with LoCon hc = down(x) (B, r, Ho, Wo) saved,
 * dhc (B, r, Ho, Wo) and dxl (B, Cin, H, W) scratch (null when built forward-only)
 * </pre>
 */
public final class AdaptedConv {
    private final Tensor w, b;            // (Cout, Cin, k, k), (Cout) or null
    private final Conv2dParams p, pDown;  // the base conv's geometry, and the same with r outputs
    private final LoraAdapter lora;       // or null
    private final String where;
    private final Tensor hc, dhc, dxl;

    public AdaptedConv(String where, Tensor w, Tensor b, Conv2dParams p, LoraAdapter lora, AdaptedLinear.Allocator alloc) {
        this(where, w, b, p, lora, alloc, alloc);
    }

    /** As above, with the backward scratch from {@code scratch} (one that returns null: forward only). */
    public AdaptedConv(String where, Tensor w, Tensor b, Conv2dParams p, LoraAdapter lora, AdaptedLinear.Allocator alloc,
                       AdaptedLinear.Allocator scratch) {
        this.where = where;
        this.w = w;
        this.b = b;
        this.p = p;
        this.lora = lora;
        if (lora != null) {
            lora.check(where, p.cin(), p.cout(), p.k(), w.dtype());
            int r = lora.rank();
            pDown = new Conv2dParams(p.n(), p.cin(), p.h(), p.w(), r, p.k(), p.stride(), p.padTop(), p.padLeft(), p.padBottom(), p.padRight());
            hc = alloc.alloc(w.dtype(), p.n(), r, p.hOut(), p.wOut());
            dhc = scratch.alloc(w.dtype(), p.n(), r, p.hOut(), p.wOut());
            dxl = scratch.alloc(w.dtype(), p.n(), p.cin(), p.h(), p.w());
        } else {
            pDown = null;
            hc = dhc = dxl = null;
        }
    }

    /** Workspace bytes this conv needs (base and LoCon down), for the network's shared workspace. */
    public long workspaceBytes() {
        return Math.max(Conv2dOps.workspaceBytes(p), pDown == null ? 0 : Conv2dOps.workspaceBytes(pDown));
    }

    /** y = conv(x) + b [+ s up(down(x))]; {@code workspace} may be null for a pointwise conv. */
    public void forward(Tensor y, Tensor x, DeviceBuffer workspace) {
        Conv2dOps.forward(y, x, w, b, workspace, p);
        if (lora == null) return;
        Conv2dOps.forward(hc, x, lora.down(), null, workspace, pDown);
        int r = lora.rank(), cout = p.cout(), px = p.hOut() * p.wOut();
        // y_b^T (P x Cout, ld P) += s (hc_b: col-major P x r, ld P) op(up: col-major r x Cout, ld r)
        y.device().gemm(new GemmParams(false, false, px, cout, r, lora.scale(), hc, px, (long) r * px, lora.upMatrix(), r, 0, 1f, y, px, (long) cout * px, p.n()));
    }

    /** dx (=) the gradient of sum(y * dy) for x (null: not wanted); the LoCon module's F32 gradients +=. */
    public void backward(Tensor dx, Tensor dy, Tensor x, DeviceBuffer workspace) {
        if (lora != null && dhc == null) throw new IllegalStateException(where + ": built forward-only, it has no backward");
        if (dx != null) Conv2dOps.backwardInput(dx, dy, w, workspace, p);
        if (lora == null) return;
        int r = lora.rank(), cout = p.cout(), px = p.hOut() * p.wOut();
        float s = lora.scale();
        Tensor up = lora.upMatrix(), dUp = lora.gradUpMatrix();
        for (int i = 0; i < p.n(); i++) {
            // dUp^T (r x Cout, ld r) += s op(hc_i: col-major P x r, ld P)^T (dy_i: col-major P x Cout, ld P)
            Tensor hci = hc.view((long) i * r * px, r, px), dyi = dy.view((long) i * cout * px, cout, px);
            dUp.device().gemm(GemmParams.of(true, false, r, cout, px, s, hci, px, dyi, px, 1f, dUp, r));
        }
        // dhc_b^T (P x r, ld P) = s (dy_b: col-major P x Cout, ld P) op(up: col-major r x Cout, ld r)^T
        dhc.device().gemm(new GemmParams(false, true, px, r, cout, s, dy, px, (long) cout * px, up, r, 0, 0f, dhc, px, (long) r * px, p.n()));
        Conv2dOps.backwardWeight(lora.gradDown(), null, dhc, x, workspace, pDown);
        if (dx != null) {
            Conv2dOps.backwardInput(dxl, dhc, lora.down(), workspace, pDown);
            BasicOps.add(dx, dx, dxl);
        }
    }
}
