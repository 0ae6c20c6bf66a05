package dev.sumi.cli;

import dev.sumi.train.Interrupt;
import dev.sumi.train.Progress;
import dev.sumi.train.TrainConfig;
import dev.sumi.train.TrainConfigReader;
import dev.sumi.train.TrainConfigReader.Setting;
import dev.sumi.train.TrainOption;
import dev.sumi.sample.TrainingPreviews;
import dev.sumi.train.LoraTrainer;
import dev.sumi.train.Trainer;
import dev.sumi.util.JsonOut;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;

/**
 * {@code sumi train}: kohya's train_network options (from {@link TrainOption}, both spellings) and/or a TOML config;
 * flags override the file. Validates everything, then prints the resolved config ({@code --print-config}) or hands it
 * to the {@link Trainer}.
 */
@Command(name = "train", mixinStandardHelpOptions = true, modelTransformer = TrainCommand.Flags.class, sortOptions = false,
        description = {"Train a LoRA (kohya train_network options; --config FILE.toml takes the same keys, flags override it).",
                "Defaults are the train-tools extension's: Lion 1e-4, cosine, rank 128 alpha 64, 20 epochs saving every 2."})
public final class TrainCommand implements Callable<Integer> {

    /** The training loop (tests put a fake one here). */
    static Supplier<Trainer> trainers = () -> (config, progress, interrupt) -> new LoraTrainer(TrainingPreviews.of(config)).train(config, progress, interrupt);

    @Option(names = "--config", paramLabel = "FILE.toml", description = "kohya-style TOML config (flat or one level of tables).")
    Path config;

    @Option(names = "--print-config", description = "Print the resolved settings (and where each came from) and stop.")
    boolean printConfig;

    @CommandLine.Spec
    CommandSpec spec;

    /** Adds one option per {@link TrainOption}, all read as text (or lists of text) and converted by TrainConfigReader. */
    static final class Flags implements CommandLine.IModelTransformer {
        @Override
        public CommandSpec transform(CommandSpec spec) {
            for (TrainOption o : TrainOption.values()) {
                OptionSpec.Builder b = OptionSpec.builder(o.flags()).description(o.help());
                switch (o.kind()) {
                    case BOOL -> b.type(String.class).arity("0..1").fallbackValue("true").paramLabel("true|false");
                    case LIST -> b.type(List.class).auxiliaryTypes(String.class).arity("1..*").paramLabel(o == TrainOption.PREVIEW_WEIGHTS ? "WEIGHT" : "KEY=VALUE");
                    default -> b.type(String.class).arity("1").paramLabel(o.kind().name());
                }
                spec.addOption(b.build());
            }
            return spec;
        }
    }

    @Override
    public Integer call() throws Exception {
        Map<TrainOption, Setting> settings = new EnumMap<>(TrainOption.class);
        if (config != null) settings.putAll(TrainConfigReader.readToml(config));
        for (OptionSpec matched : spec.commandLine().getParseResult().matchedOptions()) {
            TrainOption o = TrainOption.find(matched.longestName().replaceFirst("^--", ""));
            if (o != null) settings.put(o, new Setting(matched.getValue(), o.flags()[0]));
        }
        TrainConfig c = TrainConfigReader.resolve(settings);
        if (printConfig) {
            print(c, settings);
            return 0;
        }
        TrainConfigReader.checkPaths(c);
        if (c.seed() == null) c = c.withSeed(ThreadLocalRandom.current().nextLong(1L << 32));
        try (Interrupt interrupt = new Interrupt(Duration.ofSeconds(60)).install();
             Progress progress = new Progress(System.out, Progress.consoleMode(c.json()), c.outputDir(), System::nanoTime, 10_000_000_000L)) {
            try {
                trainers.get().train(c, progress, interrupt);
            } catch (Exception e) {
                progress.error(Main.oneLine(e));
                throw e;
            }
        }
        return 0;
    }

    /**
     * The resolved settings as a TOML config that {@code --config} reads back to the same run, each line with a
     * comment saying where its value came from; unset optional settings are commented out.
     */
    static void print(TrainConfig c, Map<TrainOption, Setting> settings) {
        Map<String, Object> m = c.toMap();
        if (c.json()) {
            System.out.println(JsonOut.write(m));
            return;
        }
        int width = m.keySet().stream().mapToInt(String::length).max().orElse(0) + 2;
        for (var e : m.entrySet()) {
            TrainOption o = TrainOption.find(e.getKey());
            Setting s = o == null ? null : settings.get(o);
            if (s == null && e.getKey().startsWith("conv_")) s = settings.get(TrainOption.NETWORK_ARGS);   // kohya's spelling of conv_dim
            String from = s != null ? s.origin() : e.getKey().equals("seed") && e.getValue() == null ? "default: drawn at start" : "default";
            String line = e.getValue() == null ? "# " + e.getKey() + " =" : String.format(Locale.ROOT, "%-" + width + "s", e.getKey() + " = " + toml(e.getValue()));
            System.out.println(String.format(Locale.ROOT, "%-" + (width + 24) + "s", line) + " # " + from);
        }
    }

    private static String toml(Object v) {
        return switch (v) {
            case List<?> l -> "[" + String.join(", ", l.stream().map(TrainCommand::toml).toList()) + "]";
            case String str -> JsonOut.write(str);   // JSON's escapes are valid in a TOML basic string
            default -> String.valueOf(v);
        };
    }
}
