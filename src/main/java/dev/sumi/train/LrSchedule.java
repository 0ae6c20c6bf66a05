package dev.sumi.train;

import java.util.Locale;

/**
 * Learning-rate schedules as diffusers' optimization.get_scheduler builds them (the LambdaLR lambdas, which kohya uses):
 * the rate of optimizer step {@code step} (0-based) is {@code baseLr * multiplier(step)}. Warmup is linear from 0 in
 * every schedule but constant. {@code cycles} is kohya's lr_scheduler_num_cycles (cosine_with_restarts only) and
 * {@code power} its lr_scheduler_power (polynomial only, which decays to diffusers' lr_end 1e-7).
 */
public record LrSchedule(Kind kind, int warmupSteps, int totalSteps, int cycles, double power) {

    public enum Kind {
        CONSTANT, CONSTANT_WITH_WARMUP, LINEAR, COSINE, COSINE_WITH_RESTARTS, POLYNOMIAL;

        /** kohya's spelling, e.g. "cosine_with_restarts". */
        public String kohyaName() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static Kind parse(String s) {
            for (Kind k : values()) {
                if (k.kohyaName().equals(s.strip().toLowerCase(Locale.ROOT).replace('-', '_'))) return k;
            }
            throw new IllegalArgumentException("unknown lr_scheduler \"" + s + "\" (constant, constant_with_warmup, linear, cosine,"
                    + " cosine_with_restarts, polynomial)");
        }
    }

    /** diffusers get_polynomial_decay_schedule_with_warmup's default end rate. */
    public static final double POLYNOMIAL_LR_END = 1e-7;

    public LrSchedule {
        if (warmupSteps < 0) throw new IllegalArgumentException("lr_warmup_steps must be >= 0, not " + warmupSteps);
        if (totalSteps < 1) throw new IllegalArgumentException("training steps must be >= 1, not " + totalSteps);
        if (cycles < 1) throw new IllegalArgumentException("lr_scheduler_num_cycles must be >= 1, not " + cycles);
        if (!(power > 0)) throw new IllegalArgumentException("lr_scheduler_power must be > 0, not " + power);
    }

    /** The factor on the base rate at optimizer step {@code step}; baseLr is needed only by polynomial (its fixed end rate). */
    public double multiplier(int step, double baseLr) {
        if (step < 0) throw new IllegalArgumentException("step " + step + " < 0");
        if (kind == Kind.CONSTANT) return 1.0;
        if (step < warmupSteps) return (double) step / Math.max(1, warmupSteps);
        double decaySteps = Math.max(1, totalSteps - warmupSteps);
        double progress = (step - warmupSteps) / decaySteps;
        return switch (kind) {
            case CONSTANT, CONSTANT_WITH_WARMUP -> 1.0;
            case LINEAR -> Math.max(0.0, (totalSteps - step) / decaySteps);
            // diffusers' num_cycles=0.5: half a cosine from 1 down to 0 over the decay steps
            case COSINE -> Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * progress)));
            case COSINE_WITH_RESTARTS -> progress >= 1.0 ? 0.0 : Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * ((cycles * progress) % 1.0))));
            case POLYNOMIAL -> polynomial(step, baseLr);
        };
    }

    public double lr(int step, double baseLr) {
        return baseLr * multiplier(step, baseLr);
    }

    private double polynomial(int step, double baseLr) {
        if (!(baseLr > POLYNOMIAL_LR_END)) throw new IllegalArgumentException("polynomial schedule: learning rate " + baseLr + " must exceed lr_end " + POLYNOMIAL_LR_END);
        if (step > totalSteps) return POLYNOMIAL_LR_END / baseLr;
        double remaining = 1.0 - (double) (step - warmupSteps) / (totalSteps - warmupSteps);
        return ((baseLr - POLYNOMIAL_LR_END) * Math.pow(remaining, power) + POLYNOMIAL_LR_END) / baseLr;
    }
}
