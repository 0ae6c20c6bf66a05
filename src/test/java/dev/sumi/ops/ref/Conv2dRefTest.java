package dev.sumi.ops.ref;

import dev.sumi.ops.Conv2dParams;
import dev.sumi.testing.FiniteDifference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Tier 1: the F64 conv2d backward against central differences, for every geometry SD uses, on odd shapes. */
class Conv2dRefTest {

    /** The SD cases on small odd shapes, batch 1 and 3, channels 3, 4, 8. */
    static Stream<Conv2dParams> cases() {
        return Stream.of(
                Conv2dParams.same3x3(1, 3, 5, 7, 4),
                Conv2dParams.same3x3(3, 4, 7, 5, 3),
                Conv2dParams.down3x3(1, 3, 9, 7, 4),
                Conv2dParams.down3x3(3, 4, 7, 9, 8),
                Conv2dParams.vaeDown3x3(1, 3, 9, 9, 4),
                Conv2dParams.vaeDown3x3(3, 4, 7, 5, 3),
                Conv2dParams.pointwise(1, 3, 5, 7, 4),
                Conv2dParams.pointwise(3, 8, 5, 9, 3));
    }

    @ParameterizedTest
    @MethodSource("cases")
    void backwardMatchesCentralDifferences(Conv2dParams p) {
        Random r = new Random(p.hashCode());
        double[] x = FiniteDifference.random(r, p.n() * p.cin() * p.h() * p.w(), 1);
        double[] w = FiniteDifference.random(r, p.cout() * p.patchSize(), 0.5);
        double[] b = FiniteDifference.random(r, p.cout(), 0.5);
        double[] dout = FiniteDifference.random(r, p.n() * p.cout() * p.pixelsOut(), 1);
        double[] dx = new double[x.length], dw = new double[w.length], db = new double[b.length];
        Conv2dRef.backward(dx, dw, db, dout, x, w, p);
        FiniteDifference.check(p + " dx", x, dout, xx -> Conv2dRef.forward(xx, w, b, p), dx, 200);
        FiniteDifference.check(p + " dweight", w, dout, ww -> Conv2dRef.forward(x, ww, b, p), dw, 200);
        FiniteDifference.check(p + " dbias", b, dout, bb -> Conv2dRef.forward(x, w, bb, p), db, 200);
    }

    @Test
    void parameterGradientsAccumulateInputGradientIsWritten() {
        Conv2dParams p = Conv2dParams.down3x3(3, 4, 7, 9, 8);
        Random r = new Random(7);
        double[] x = FiniteDifference.random(r, p.n() * p.cin() * p.h() * p.w(), 1);
        double[] w = FiniteDifference.random(r, p.cout() * p.patchSize(), 0.5);
        double[] dout = FiniteDifference.random(r, p.n() * p.cout() * p.pixelsOut(), 1);
        double[] dx = new double[x.length], dw = new double[w.length], db = new double[p.cout()];
        Conv2dRef.backward(dx, dw, db, dout, x, w, p);
        double[] dx1 = dx.clone(), dw1 = dw.clone(), db1 = db.clone();
        Conv2dRef.backward(dx, dw, db, dout, x, w, p);
        for (int i = 0; i < dx.length; i++) assertEquals(dx1[i], dx[i], "dx is written, not accumulated");
        for (int i = 0; i < dw.length; i++) assertEquals(2 * dw1[i], dw[i], 1e-12 * Math.abs(dw1[i]), "dweight accumulates");
        for (int i = 0; i < db.length; i++) assertEquals(2 * db1[i], db[i], 1e-12 * Math.abs(db1[i]), "dbias accumulates");
    }

    @Test
    void outputSizes() {
        // (H + pads - K) / S + 1: the UNet keeps 64 -> 64 and halves 64 -> 32; the VAE halves 512 -> 256
        assertEquals(64, Conv2dParams.same3x3(1, 4, 64, 64, 4).hOut());
        assertEquals(32, Conv2dParams.down3x3(1, 4, 64, 64, 4).hOut());
        assertEquals(256, Conv2dParams.vaeDown3x3(1, 4, 512, 512, 4).wOut());
        assertEquals(4, Conv2dParams.down3x3(1, 4, 7, 9, 4).hOut());
        assertEquals(3, Conv2dParams.vaeDown3x3(1, 4, 7, 5, 4).hOut());
        assertEquals(2, Conv2dParams.vaeDown3x3(1, 4, 7, 5, 4).wOut());
    }
}
