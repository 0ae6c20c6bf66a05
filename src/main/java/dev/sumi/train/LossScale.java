package dev.sumi.train;

/**
 * fp16's dynamic loss scale, as torch.cuda.amp.GradScaler: start at 2^16, halve after a step whose gradients
 * overflowed (that step is skipped), double after every 2000 steps in a row without one.
 */
final class LossScale {
    private LossScale() {}

    static final double INITIAL = 65536.0;
    static final int GROWTH_INTERVAL = 2000;
    static final double MIN = 1.0;

    static double afterOverflow(double scale) {
        return Math.max(MIN, scale * 0.5);
    }

    /** applied: the optimizer steps applied so far (the step just taken included), which counts the steps since the last overflow well enough for a growth interval this long. */
    static double afterGoodStep(double scale, long applied) {
        return applied % GROWTH_INTERVAL == 0 ? Math.min(scale * 2, INITIAL * 1024) : scale;
    }
}
