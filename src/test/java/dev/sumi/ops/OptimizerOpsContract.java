package dev.sumi.ops;

import dev.sumi.device.Device;
import dev.sumi.ops.OptimizerOps.ParamSet;
import dev.sumi.ops.OptimizerOps.Slot;
import dev.sumi.ops.ref.OptimizerRef;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.Budget;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.List;

import static dev.sumi.ops.LowPrecision.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * OptimizerOps against OptimizerRef (F64) over several steps and many tensors (sizes that end
 * inside a chunk, on a chunk boundary, one element), with per-tensor lr factors and weight decays,
 * loss-scale unscaling and clipping. Budget: 2 x the error of the same update in plain Java float
 * (what a per-tensor float implementation gives), plus one float ulp of the largest parameter per
 * step (each step rounds p once; the kernel's order of operations, and FMA contraction on the GPU,
 * may put that rounding on the other side of the baseline's).
 */
public abstract class OptimizerOpsContract {

    protected abstract Device device();

    static final int[] SIZES = {1, 17, 4096, 4097, 3 * 4096 + 5, 65};
    static final int STEPS = 4;

    final class Fixture implements AutoCloseable {
        final int count = SIZES.length;
        final Tensor[] p = new Tensor[count], g = new Tensor[count], m = new Tensor[count], v = new Tensor[count];
        final double[][] pRef = new double[count][], mRef = new double[count][], vRef = new double[count][];
        final float[][] pBase = new float[count][], mBase = new float[count][], vBase = new float[count][];
        final double[] lrScale = new double[count], wd = new double[count];
        final ParamSet set;

        Fixture(boolean withV) {
            List<Slot> slots = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                int n = SIZES[i];
                pBase[i] = random(DType.F32, n, 100 + i, 1f);
                mBase[i] = new float[n];
                vBase[i] = new float[n];
                pRef[i] = LowPrecision.widen(pBase[i]);
                mRef[i] = new double[n];
                vRef[i] = new double[n];
                lrScale[i] = i % 2 == 0 ? 1 : 0.5;
                wd[i] = i % 3 == 0 ? 0 : 0.01 * i;
                p[i] = Tensor.fromFloats(device(), DType.F32, pBase[i], n);
                g[i] = Tensor.allocate(device(), DType.F32, n);
                m[i] = Tensor.allocate(device(), DType.F32, n);
                BasicOps.fill(m[i], 0);
                if (withV) {
                    v[i] = Tensor.allocate(device(), DType.F32, n);
                    BasicOps.fill(v[i], 0);
                }
                slots.add(new Slot(p[i], g[i], m[i], v[i], (float) lrScale[i], (float) wd[i]));
            }
            set = ParamSet.create(slots);
        }

        /** Uploads this step's gradients (times lossScale) and returns them, unscaled, per tensor. */
        float[][] grads(int step, float lossScale) {
            float[][] gs = new float[count][];
            for (int i = 0; i < count; i++) {
                gs[i] = random(DType.F32, SIZES[i], 1000L * step + i, 1f);
                float[] scaled = new float[gs[i].length];
                for (int j = 0; j < scaled.length; j++) scaled[j] = gs[i][j] * lossScale;  // a power of two: exact
                g[i].copyFrom(scaled);
            }
            return gs;
        }

        void check(String what) {
            for (int i = 0; i < count; i++) {
                double floor = STEPS * Math.ulp((float) LowPrecision.maxAbs(pRef[i]));
                Budget.assertWithin(what + " p[" + i + "]", p[i].toFloats(), pBase[i], pRef[i], 2, floor);
                Budget.assertWithin(what + " m[" + i + "]", m[i].toFloats(), mBase[i], mRef[i], 2, STEPS * Math.ulp((float) LowPrecision.maxAbs(mRef[i])));
                if (v[i] != null) Budget.assertWithin(what + " v[" + i + "]", v[i].toFloats(), vBase[i], vRef[i], 2, STEPS * Math.ulp((float) LowPrecision.maxAbs(vRef[i])));
            }
        }

        @Override
        public void close() {
            set.close();
            for (int i = 0; i < count; i++) {
                p[i].close();
                g[i].close();
                m[i].close();
                if (v[i] != null) v[i].close();
            }
        }
    }

    static double[][] widen(float[][] a) {
        double[][] d = new double[a.length][];
        for (int i = 0; i < a.length; i++) d[i] = LowPrecision.widen(a[i]);
        return d;
    }

    /** The baseline's norm and grad scale, in float as a plain implementation computes them. */
    static float floatScale(float[][] gs, float maxNorm) {
        float s = 0;
        for (float[] g : gs) for (float x : g) s += x * x;
        float norm = (float) Math.sqrt(s);
        return maxNorm > 0 ? Math.min(1f, maxNorm / (norm + 1e-6f)) : 1f;
    }

    @ParameterizedTest
    @CsvSource({"1, 0", "256, 0", "256, 3"})  // loss scale, max norm (the gradients' norm is ~60: 3 clips)
    void adamwMatchesReference(float lossScale, float maxNorm) {
        OptimizerOps.AdamW h = new OptimizerOps.AdamW(1e-2, 0.9, 0.999, 1e-8);
        try (Fixture f = new Fixture(true)) {
            for (int t = 1; t <= STEPS; t++) {
                float[][] gs = f.grads(t, lossScale);
                OptimizerOps.gradNorm(f.set, 1 / lossScale);
                double norm = OptimizerRef.gradNorm(widen(gs), 1);
                float got = f.set.readNorm();
                int n = 0;
                for (int s : SIZES) n += s;
                assertTrue(Math.abs(got - norm) <= (n * 0x1p-24 + 0x1p-23) * norm, "norm " + got + " vs " + norm);
                assertFalse(f.set.readNonFinite());
                OptimizerOps.adamw(f.set, h, t, 1 / lossScale, maxNorm);
                OptimizerRef.adamw(f.pRef, widen(gs), f.mRef, f.vRef, f.lrScale, f.wd, h.lr(), h.beta1(), h.beta2(), h.eps(), t,
                        OptimizerRef.gradScale(norm, 1, maxNorm));
                float scale = floatScale(gs, maxNorm);
                float bc1 = (float) (1 - Math.pow(h.beta1(), t)), bc2 = (float) (1 - Math.pow(h.beta2(), t));
                for (int i = 0; i < f.count; i++) {
                    float lr = (float) h.lr() * (float) f.lrScale[i];
                    for (int j = 0; j < SIZES[i]; j++) {
                        float g = gs[i][j] * scale;
                        f.mBase[i][j] = (float) h.beta1() * f.mBase[i][j] + (float) (1 - h.beta1()) * g;
                        f.vBase[i][j] = (float) h.beta2() * f.vBase[i][j] + (float) (1 - h.beta2()) * g * g;
                        f.pBase[i][j] = f.pBase[i][j] * (1 - lr * (float) f.wd[i])
                                - lr * (f.mBase[i][j] / bc1) / ((float) Math.sqrt(f.vBase[i][j] / bc2) + (float) h.eps());
                    }
                }
            }
            f.check("adamw scale " + lossScale + " clip " + maxNorm);
        }
    }

    @ParameterizedTest
    @CsvSource({"1, 0", "256, 3"})
    void lionMatchesReference(float lossScale, float maxNorm) {
        OptimizerOps.Lion h = new OptimizerOps.Lion(1e-3, 0.9, 0.99);
        try (Fixture f = new Fixture(false)) {
            for (int t = 1; t <= STEPS; t++) {
                float[][] gs = f.grads(t, lossScale);
                OptimizerOps.gradNorm(f.set, 1 / lossScale);
                double norm = OptimizerRef.gradNorm(widen(gs), 1);
                OptimizerOps.lion(f.set, h, 1 / lossScale, maxNorm);
                OptimizerRef.lion(f.pRef, widen(gs), f.mRef, f.lrScale, f.wd, h.lr(), h.beta1(), h.beta2(), OptimizerRef.gradScale(norm, 1, maxNorm));
                float scale = floatScale(gs, maxNorm);
                for (int i = 0; i < f.count; i++) {
                    float lr = (float) h.lr() * (float) f.lrScale[i];
                    for (int j = 0; j < SIZES[i]; j++) {
                        float g = gs[i][j] * scale;
                        float c = (float) h.beta1() * f.mBase[i][j] + (float) (1 - h.beta1()) * g;
                        f.pBase[i][j] = f.pBase[i][j] * (1 - lr * (float) f.wd[i]) - lr * Math.signum(c);
                        f.mBase[i][j] = (float) h.beta2() * f.mBase[i][j] + (float) (1 - h.beta2()) * g;
                    }
                }
            }
            f.check("lion scale " + lossScale + " clip " + maxNorm);
        }
    }

    /** A non-finite gradient sets the flag, and the step then leaves every parameter and state untouched. */
    @Test
    void nonFiniteGradientSkipsTheStep() {
        try (Fixture f = new Fixture(true)) {
            f.grads(1, 1);
            float[] bad = random(DType.F32, SIZES[3], 5, 1f);
            bad[4096] = Float.POSITIVE_INFINITY;  // in the tensor's second chunk
            f.g[3].copyFrom(bad);
            OptimizerOps.gradNorm(f.set, 1);
            assertTrue(f.set.readNonFinite());
            OptimizerOps.adamw(f.set, new OptimizerOps.AdamW(1e-2, 0.9, 0.999, 1e-8), 1, 1, 1);
            OptimizerOps.lion(f.set, new OptimizerOps.Lion(1e-2, 0.9, 0.99), 1, 1);
            for (int i = 0; i < f.count; i++) {
                Budget.assertExact("p[" + i + "] after a skipped step", f.pBase[i], f.p[i].toFloats());
                Budget.assertExact("m[" + i + "] after a skipped step", f.mBase[i], f.m[i].toFloats());
            }
            bad[4096] = Float.NaN;
            f.g[3].copyFrom(bad);
            OptimizerOps.gradNorm(f.set, 1);
            assertTrue(f.set.readNonFinite());
            f.grads(2, 1);
            OptimizerOps.gradNorm(f.set, 1);
            assertFalse(f.set.readNonFinite(), "the flag is cleared by the next norm");
            assertEquals(f.count, f.set.tensors());
        }
    }
}
