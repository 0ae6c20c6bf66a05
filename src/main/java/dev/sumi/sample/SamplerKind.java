package dev.sumi.sample;

import dev.sumi.train.NoiseSchedule;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The samplers sumi offers, by the names users know: AUTOMATIC1111's display name (written into a PNG's
 * parameters) and the snake_case spellings of kohya's {@code --sample_sampler} / the CLI.
 */
public enum SamplerKind {
    EULER_A("Euler a", "euler_a", "k_euler_a"),
    EULER("Euler", "euler", "k_euler"),
    DDIM("DDIM", "ddim"),
    DPMPP_2M_KARRAS("DPM++ 2M Karras", "dpmpp_2m_karras", "dpm++_2m_karras", "k_dpmpp_2m_karras");

    private final String a1111Name;
    private final List<String> aliases;

    SamplerKind(String a1111Name, String... aliases) {
        this.a1111Name = a1111Name;
        this.aliases = List.of(aliases);
    }

    /** The name AUTOMATIC1111 shows and writes ("Euler a"). */
    public String a1111Name() {
        return a1111Name;
    }

    /** The CLI's spelling ("euler_a"). */
    public String cliName() {
        return aliases.getFirst();
    }

    public Sampler create(NoiseSchedule schedule, Prediction prediction) {
        return switch (this) {
            case EULER_A -> new EulerSampler(schedule, prediction, true);
            case EULER -> new EulerSampler(schedule, prediction, false);
            case DDIM -> new DdimSampler(schedule, prediction);
            case DPMPP_2M_KARRAS -> new DpmPlusPlus2mKarrasSampler(schedule, prediction);
        };
    }

    /** Whether the sampler adds fresh noise each step (and so needs a {@link StepNoise}). */
    public boolean ancestral() {
        return this == EULER_A;
    }

    /** By A1111 name or alias, case and space insensitive; a one-line error lists the choices. */
    public static SamplerKind parse(String name) {
        String key = normalise(name);
        for (SamplerKind k : values()) {
            if (normalise(k.a1111Name).equals(key)) return k;
            for (String a : k.aliases) if (normalise(a).equals(key)) return k;
        }
        List<String> names = new ArrayList<>();
        for (SamplerKind k : values()) names.add(k.cliName() + " (\"" + k.a1111Name + "\")");
        throw new IllegalArgumentException("unknown sampler '" + name + "': choose one of " + String.join(", ", names));
    }

    private static String normalise(String s) {
        return s.trim().toLowerCase(Locale.ROOT).replace(' ', '_').replace('-', '_');
    }
}
