package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.ops.ref.LoraRef;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.Budget;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static dev.sumi.ops.LowPrecision.*;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * LoraOps against LoraRef (F64) in every dtype, odd shapes and ranks 1..256. The baseline is the
 * unfused low-precision computation of a framework: y = round(round(x W^T + b) + round(s round(round(x
 * down^T) up^T))), dh = round(round(s dy) up), and so on, each op's output rounded to its type;
 * budget 2 x its error + {@link LowPrecision#gemmFloor}.
 */
public abstract class LoraOpsContract {

    protected abstract Device device();

    // (M, N, K, r)
    static final int[][] SHAPES = {{1, 1, 1, 1}, {3, 17, 33, 4}, {1, 65, 3, 3}, {3, 33, 65, 17}, {17, 3, 17, 1}, {3, 5, 7, 256}};

    static Stream<Arguments> cases() {
        List<Arguments> a = new ArrayList<>();
        for (DType t : LinearOpsContract.FLOATS) {
            for (int[] s : SHAPES) {
                a.add(Arguments.of(t, t, s[0], s[1], s[2], s[3]));
                if (t != DType.F32) a.add(Arguments.of(t, DType.F32, s[0], s[1], s[2], s[3]));
            }
        }
        return a.stream();
    }

    @ParameterizedTest
    @MethodSource("cases")
    void forwardAndBackward(DType t, DType g, int m, int n, int k, int r) {
        String tag = t + "/" + g + " " + m + "x" + n + "x" + k + " r" + r;
        float s = LoraOps.scale(0.8f, r / 2f + 1, r);
        float[] x = random(t, m * k, 1, 1f), w = random(t, n * k, 2, 1f), b = random(t, n, 3, 1f);
        float[] down = random(t, r * k, 4, 1f), up = random(t, n * r, 5, 1f), dy = random(t, m * n, 6, 1f);
        float[] dDown0 = random(g, r * k, 7, 1f), dUp0 = random(g, n * r, 8, 1f);
        // F64 reference (on the kernel's saved h, so that backward is checked on its own inputs)
        double[] yRef = new double[m * n], hRef = new double[m * r];
        LoraRef.forward(yRef, hRef, widen(x), widen(w), widen(b), widen(down), widen(up), s, m, n, k, r);
        // low-precision baseline, forward
        float[] hBase = round(t, nt(x, down, m, r, k));
        float[] base = round(t, add(DType.F32, nt(x, w, m, n, k), LinearOpsContract.broadcast(b, m)));
        float[] yBase = add(t, base, scale(t, s, round(t, nt(hBase, up, m, n, r))));
        try (Tensor tx = Tensor.fromFloats(device(), t, x, m, k); Tensor tw = Tensor.fromFloats(device(), t, w, n, k);
             Tensor tb = Tensor.fromFloats(device(), t, b, n); Tensor tdown = Tensor.fromFloats(device(), t, down, r, k);
             Tensor tup = Tensor.fromFloats(device(), t, up, n, r); Tensor tdy = Tensor.fromFloats(device(), t, dy, m, n);
             Tensor ty = Tensor.allocate(device(), t, m, n); Tensor th = Tensor.allocate(device(), t, m, r);
             Tensor tdh = Tensor.allocate(device(), t, m, r); Tensor tdx = Tensor.allocate(device(), t, m, k);
             Tensor tdDown = Tensor.fromFloats(device(), g, dDown0, r, k); Tensor tdUp = Tensor.fromFloats(device(), g, dUp0, n, r)) {
            BasicOps.fill(ty, Float.NaN);
            BasicOps.fill(th, Float.NaN);
            BasicOps.fill(tdh, Float.NaN);
            BasicOps.fill(tdx, Float.NaN);
            LoraOps.forward(ty, th, tx, tw, tb, tdown, tup, s);
            float[] h = th.toFloats();
            Budget.assertWithin("lora y " + tag, ty.toFloats(), yBase, yRef, 2, gemmFloor(yRef));
            Budget.assertWithin("lora h " + tag, h, hBase, hRef, 2, gemmFloor(hRef));

            LoraOps.backward(tdx, tdDown, tdUp, null, tdh, tdy, tx, th, tw, tdown, tup, s);
            double[] dxRef = new double[m * k], dDownRef = widen(dDown0), dUpRef = widen(dUp0);
            LoraRef.backward(dxRef, dDownRef, dUpRef, widen(dy), widen(x), widen(h), widen(w), widen(down), widen(up), s, m, n, k, r);
            float[] dyT = transpose(dy, m, n);
            float[] dUpBase = add(g, dUp0, round(t, scale(DType.F32, s, nt(dyT, transpose(h, m, r), n, r, m))));
            float[] dhBase = round(t, nt(scale(t, s, dy), transpose(up, n, r), m, r, n));
            float[] dDownBase = add(g, dDown0, round(t, nt(transpose(dhBase, m, r), transpose(x, m, k), r, k, m)));
            float[] dxBase = add(t, round(t, nt(dy, transpose(w, n, k), m, k, n)), round(t, nt(dhBase, transpose(down, r, k), m, k, r)));
            Budget.assertWithin("lora dUp += " + tag, tdUp.toFloats(), dUpBase, dUpRef, 2, gemmFloor(dUpRef));
            Budget.assertWithin("lora dDown += " + tag, tdDown.toFloats(), dDownBase, dDownRef, 2, gemmFloor(dDownRef));
            Budget.assertWithin("lora dx " + tag, tdx.toFloats(), dxBase, dxRef, 2, gemmFloor(dxRef));
        }
    }

    /** up = 0 (the adapter's initial state): the layer is exactly the base linear layer. */
    @Test
    void zeroUpGivesTheBaseLayer() {
        int m = 3, n = 17, k = 33, r = 4;
        DType t = DType.BF16;
        try (Tensor x = Tensor.fromFloats(device(), t, random(t, m * k, 1, 1f), m, k); Tensor w = Tensor.fromFloats(device(), t, random(t, n * k, 2, 1f), n, k);
             Tensor down = Tensor.fromFloats(device(), t, random(t, r * k, 3, 1f), r, k); Tensor up = Tensor.allocate(device(), t, n, r);
             Tensor y = Tensor.allocate(device(), t, m, n); Tensor h = Tensor.allocate(device(), t, m, r); Tensor base = Tensor.allocate(device(), t, m, n)) {
            BasicOps.fill(up, 0);
            LoraOps.forward(y, h, x, w, null, down, up, 2f);
            LinearOps.forward(base, x, w, null);
            Budget.assertExact("lora with up = 0", base.toFloats(), y.toFloats());
        }
    }

    @Test
    void rejectsRankOutOfRange() {
        try (Tensor x = Tensor.allocate(device(), DType.F32, 1, 2); Tensor w = Tensor.allocate(device(), DType.F32, 3, 2);
             Tensor down = Tensor.allocate(device(), DType.F32, LoraOps.MAX_RANK + 1, 2); Tensor up = Tensor.allocate(device(), DType.F32, 3, LoraOps.MAX_RANK + 1);
             Tensor y = Tensor.allocate(device(), DType.F32, 1, 3); Tensor h = Tensor.allocate(device(), DType.F32, 1, LoraOps.MAX_RANK + 1)) {
            assertThrows(IllegalArgumentException.class, () -> LoraOps.forward(y, h, x, w, null, down, up, 1f));
        }
    }
}
