package dev.sumi.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import dev.sumi.train.TrainConfig.Precision;

/**
 * Builds a {@link TrainConfig} from settings gathered from a TOML file and the command line (later ones win), fills
 * in the defaults, and validates every value. Each error is one line that names where the value came from
 * ("my.toml:12: train_batch_size: ..." or "--train-batch-size: ...") and why it is wrong.
 */
public final class TrainConfigReader {
    private TrainConfigReader() {}

    /**
     * One given value: a String, Long, Double, Boolean or List of those (TOML), or a String / List of Strings (flags).
     * origin says where it came from, for error messages.
     */
    public record Setting(Object value, String origin) {}

    /** The settings of a TOML config: flat keys or keys in one-level tables, either spelling; unknown keys are errors. */
    public static Map<TrainOption, Setting> readToml(Path file) throws IOException {
        List<Toml.Entry> entries;
        try {
            entries = Toml.read(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": no such config file");
        }
        Map<TrainOption, Setting> out = new EnumMap<>(TrainOption.class);
        for (Toml.Entry e : entries) {
            String where = file + ":" + e.line();
            TrainOption o = TrainOption.find(e.key());
            if (o == null) throw new IllegalArgumentException(where + ": unknown key " + e.key() + (e.table().isEmpty() ? "" : " in [" + e.table() + "]"));
            Setting before = out.put(o, new Setting(e.value(), where + ": " + e.key()));
            if (before != null) throw new IllegalArgumentException(where + ": " + e.key() + ": already set at " + before.origin());
        }
        return out;
    }

    /** The config of the settings (missing ones take their defaults). */
    public static TrainConfig resolve(Map<TrainOption, Setting> s) {
        Values v = new Values(s);
        Path outputDir = v.path(TrainOption.OUTPUT_DIR, true);
        String outputName = v.string(TrainOption.OUTPUT_NAME, null);
        if (outputName == null) outputName = outputDir.toAbsolutePath().normalize().getFileName() == null ? "lora" : outputDir.toAbsolutePath().normalize().getFileName().toString();
        if (outputName.isBlank() || outputName.contains("/") || outputName.contains("\\")) v.fail(TrainOption.OUTPUT_NAME, "must be a file name stem, not \"" + outputName + "\"");

        int[] wh = resolution(v);
        Integer epochs = v.intOrNull(TrainOption.MAX_TRAIN_EPOCHS, 1, 1_000_000);
        Integer steps = v.intOrNull(TrainOption.MAX_TRAIN_STEPS, 1, Integer.MAX_VALUE);
        if (epochs == null && steps == null) epochs = 20;

        double lr = v.positive(TrainOption.LEARNING_RATE, 1e-4);
        double unetLr = v.positive(TrainOption.UNET_LR, lr);
        double teLr = v.positive(TrainOption.TEXT_ENCODER_LR, lr);

        boolean unetOnly = v.bool(TrainOption.NETWORK_TRAIN_UNET_ONLY, false);
        boolean teOnly = v.bool(TrainOption.NETWORK_TRAIN_TEXT_ENCODER_ONLY, false);
        if (unetOnly && teOnly) v.fail(TrainOption.NETWORK_TRAIN_TEXT_ENCODER_ONLY, "cannot be combined with network_train_unet_only");

        String module = v.string(TrainOption.NETWORK_MODULE, "networks.lora");
        if (!module.equals("networks.lora")) v.fail(TrainOption.NETWORK_MODULE, "sumi trains networks.lora only, not " + module);
        String saveAs = v.string(TrainOption.SAVE_MODEL_AS, "safetensors");
        if (!saveAs.equals("safetensors")) v.fail(TrainOption.SAVE_MODEL_AS, "sumi saves safetensors only, not " + saveAs);
        v.bool(TrainOption.XFORMERS, false);
        v.bool(TrainOption.SDPA, false);

        int dim = v.integer(TrainOption.NETWORK_DIM, 128, 1, 1024);
        double alpha = v.positive(TrainOption.NETWORK_ALPHA, 64.0);
        Integer convDim = null;
        Double convAlpha = null;
        for (String arg : v.list(TrainOption.NETWORK_ARGS)) {
            String[] kv = keyValue(v, TrainOption.NETWORK_ARGS, arg);
            switch (kv[0]) {
                case "conv_dim" -> convDim = (int) v.number(TrainOption.NETWORK_ARGS, kv[1], 1, 1024, true);
                case "conv_alpha" -> convAlpha = v.number(TrainOption.NETWORK_ARGS, kv[1], Double.MIN_VALUE, Double.MAX_VALUE, false);
                default -> v.fail(TrainOption.NETWORK_ARGS, "unknown network argument " + kv[0] + " (sumi knows conv_dim and conv_alpha)");
            }
        }
        Integer convDimFlag = v.intOrNull(TrainOption.CONV_DIM, 1, 1024);
        if (convDimFlag != null && convDim != null && !convDim.equals(convDimFlag)) v.fail(TrainOption.CONV_DIM, "conflicts with network_args conv_dim=" + convDim);
        if (convDimFlag != null) convDim = convDimFlag;
        if (s.containsKey(TrainOption.CONV_ALPHA)) {
            double a = v.positive(TrainOption.CONV_ALPHA, 1.0);
            if (convAlpha != null && convAlpha != a) v.fail(TrainOption.CONV_ALPHA, "conflicts with network_args conv_alpha=" + convAlpha);
            convAlpha = a;
        }
        if (convAlpha != null && convDim == null) v.fail(s.containsKey(TrainOption.CONV_ALPHA) ? TrainOption.CONV_ALPHA : TrainOption.NETWORK_ARGS, "conv_alpha without conv_dim");

        Precision mixed = precision(v, TrainOption.MIXED_PRECISION, "fp16", true);
        Precision save = precision(v, TrainOption.SAVE_PRECISION, "fp16", false);

        int maxTokens = v.integer(TrainOption.MAX_TOKEN_LENGTH, 150, 75, 225);
        if (maxTokens % 75 != 0) v.fail(TrainOption.MAX_TOKEN_LENGTH, "must be 75, 150 or 225, not " + maxTokens);

        boolean bucket = v.bool(TrainOption.ENABLE_BUCKET, false);
        int minBucket = v.integer(TrainOption.MIN_BUCKET_RESO, 256, 64, 8192);
        int maxBucket = v.integer(TrainOption.MAX_BUCKET_RESO, 1024, 64, 8192);
        if (bucket && (minBucket > Math.min(wh[0], wh[1]) || maxBucket < Math.max(wh[0], wh[1]))) {
            v.fail(s.containsKey(TrainOption.MIN_BUCKET_RESO) ? TrainOption.MIN_BUCKET_RESO : TrainOption.MAX_BUCKET_RESO,
                    "buckets " + minBucket + ".." + maxBucket + " must contain the resolution " + wh[0] + "," + wh[1]);
        }

        Double gamma = s.containsKey(TrainOption.MIN_SNR_GAMMA) ? v.positive(TrainOption.MIN_SNR_GAMMA, 5.0) : null;
        String repeats = v.string(TrainOption.REPEATS, "auto");
        Integer fixedRepeats = repeats.equalsIgnoreCase("auto") ? null : (int) v.number(TrainOption.REPEATS, repeats, 1, 100_000, true);
        Long seedValue = s.containsKey(TrainOption.SEED) ? (long) v.number(TrainOption.SEED, v.raw(TrainOption.SEED), 0, 0xFFFF_FFFFL, true) : null;
        Path resume = v.path(TrainOption.RESUME, false);
        String ext = v.string(TrainOption.CAPTION_EXTENSION, ".txt");
        if (!ext.startsWith(".") || ext.length() < 2) v.fail(TrainOption.CAPTION_EXTENSION, "must start with a dot, e.g. .txt, not \"" + ext + "\"");

        return new TrainConfig(v.path(TrainOption.PRETRAINED_MODEL_NAME_OR_PATH, true), v.path(TrainOption.TRAIN_DATA_DIR, true), outputDir, outputName,
                wh[0], wh[1], v.integer(TrainOption.TRAIN_BATCH_SIZE, 1, 1, 4096), epochs, steps, lr, unetLr, teLr, optimizer(v),
                scheduler(v), v.integer(TrainOption.LR_WARMUP_STEPS, 0, 0, Integer.MAX_VALUE), v.integer(TrainOption.LR_SCHEDULER_NUM_CYCLES, 1, 1, 1_000_000),
                v.positive(TrainOption.LR_SCHEDULER_POWER, 1.0), dim, alpha, convDim, convAlpha == null ? 1.0 : convAlpha, !teOnly, !unetOnly,
                v.integer(TrainOption.CLIP_SKIP, 2, 1, 24), maxTokens, mixed, save, v.integer(TrainOption.SAVE_EVERY_N_EPOCHS, 2, 0, 1_000_000),
                v.bool(TrainOption.SAVE_STATE, false), resume, seedValue, ext, v.string(TrainOption.CAPTION_PREFIX, ""),
                v.bool(TrainOption.FLIP_AUG, false), bucket, minBucket, maxBucket, v.nonNegative(TrainOption.NOISE_OFFSET, 0.0), gamma,
                v.bool(TrainOption.V_PARAMETERIZATION, false), v.bool(TrainOption.GRADIENT_CHECKPOINTING, false),
                v.nonNegative(TrainOption.MAX_GRAD_NORM, 1.0), v.bool(TrainOption.CACHE_LATENTS, true), device(v), v.bool(TrainOption.JSON, false),
                fixedRepeats, v.bool(TrainOption.DATASET_CHECK_ONLY, false), v.path(TrainOption.TOKENIZER, false), previews(v, s));
    }

    private static TrainConfig.Previews previews(Values v, Map<TrainOption, Setting> s) {
        Path prompts = v.path(TrainOption.SAMPLE_PROMPTS, false);
        int every = v.integer(TrainOption.SAMPLE_EVERY_N_EPOCHS, 0, 0, 1_000_000);
        boolean atFirst = v.bool(TrainOption.SAMPLE_AT_FIRST, false);
        boolean grid = v.bool(TrainOption.PREVIEW_GRID, prompts != null);
        if (prompts == null) {
            String why = "needs sample_prompts (a file of preview prompts)";
            if (every > 0) v.fail(TrainOption.SAMPLE_EVERY_N_EPOCHS, why);
            if (atFirst) v.fail(TrainOption.SAMPLE_AT_FIRST, why);
            if (grid) v.fail(TrainOption.PREVIEW_GRID, why);
        }
        List<Double> weights = new ArrayList<>();
        Object raw = v.raw(TrainOption.PREVIEW_WEIGHTS);   // TOML numbers, or words "0.6 0.8" / "0.6,0.8"
        for (Object item : raw instanceof List<?> l ? l : raw == null ? List.of() : List.of(raw)) {
            if (item instanceof String str) {
                for (String part : str.split("[,\\s]+")) if (!part.isBlank()) weights.add(v.number(TrainOption.PREVIEW_WEIGHTS, part, -10, 10, false));
            } else {
                weights.add(v.number(TrainOption.PREVIEW_WEIGHTS, item, -10, 10, false));
            }
        }
        if (!s.containsKey(TrainOption.PREVIEW_WEIGHTS)) weights = TrainConfig.Previews.DEFAULT_WEIGHTS;
        if (weights.isEmpty()) v.fail(TrainOption.PREVIEW_WEIGHTS, "needs at least one weight");
        return new TrainConfig.Previews(prompts, every, atFirst, v.string(TrainOption.SAMPLE_SAMPLER, "euler_a"), weights, grid);
    }

    /** The checks that need the disk: the model and the data exist, a resume state is a folder. */
    public static void checkPaths(TrainConfig c) {
        if (!Files.exists(c.pretrainedModel())) throw new IllegalArgumentException(c.pretrainedModel() + ": no such model file or folder (pretrained_model_name_or_path)");
        if (!Files.isDirectory(c.trainDataDir())) throw new IllegalArgumentException(c.trainDataDir() + ": not a folder (train_data_dir)");
        if (c.resume() != null && !Files.isDirectory(c.resume())) throw new IllegalArgumentException(c.resume() + ": no saved state folder there (resume)");
        if (Files.exists(c.outputDir()) && !Files.isDirectory(c.outputDir())) throw new IllegalArgumentException(c.outputDir() + ": exists and is not a folder (output_dir)");
    }

    private static int[] resolution(Values v) {
        String r = v.string(TrainOption.RESOLUTION, "512");
        String[] p = r.split("[,x]");
        int[] wh = new int[2];
        if (p.length < 1 || p.length > 2) v.fail(TrainOption.RESOLUTION, "expected \"512\" or \"W,H\", not \"" + r + "\"");
        for (int i = 0; i < 2; i++) {
            wh[i] = (int) v.number(TrainOption.RESOLUTION, p[Math.min(i, p.length - 1)], 64, 8192, true);
            if (wh[i] % 8 != 0) v.fail(TrainOption.RESOLUTION, wh[i] + " is not a multiple of 8 (the VAE's scale)");
        }
        return wh;
    }

    private static TrainConfig.Optimizer optimizer(Values v) {
        String name = v.string(TrainOption.OPTIMIZER_TYPE, "Lion");
        TrainConfig.Optimizer.Type type = switch (name.toLowerCase(Locale.ROOT)) {
            case "adamw", "adamw_torch" -> TrainConfig.Optimizer.Type.ADAMW;
            case "lion" -> TrainConfig.Optimizer.Type.LION;
            case "adamw8bit", "lion8bit", "pagedadamw8bit", "pagedlion8bit" -> throw v.error(TrainOption.OPTIMIZER_TYPE,
                    name + " (8-bit optimizer states) is not supported yet; use AdamW or Lion");
            default -> throw v.error(TrainOption.OPTIMIZER_TYPE, "unknown optimizer " + name + " (AdamW or Lion)");
        };
        boolean adam = type == TrainConfig.Optimizer.Type.ADAMW;
        double wd = 0.1, b1 = 0.9, b2 = adam ? 0.999 : 0.99, eps = 1e-8;
        for (String arg : v.list(TrainOption.OPTIMIZER_ARGS)) {
            String[] kv = keyValue(v, TrainOption.OPTIMIZER_ARGS, arg);
            switch (kv[0]) {
                case "weight_decay" -> wd = v.number(TrainOption.OPTIMIZER_ARGS, kv[1], 0, 10, false);
                case "betas" -> {
                    String[] b = kv[1].replace("(", "").replace(")", "").split(",");
                    if (b.length != 2) v.fail(TrainOption.OPTIMIZER_ARGS, "betas needs two numbers, e.g. betas=0.9,0.99, not " + kv[1]);
                    b1 = v.number(TrainOption.OPTIMIZER_ARGS, b[0], 0, 0.999999999, false);
                    b2 = v.number(TrainOption.OPTIMIZER_ARGS, b[1], 0, 0.999999999, false);
                }
                case "eps" -> {
                    if (!adam) v.fail(TrainOption.OPTIMIZER_ARGS, "Lion has no eps");
                    eps = v.number(TrainOption.OPTIMIZER_ARGS, kv[1], Double.MIN_VALUE, 1, false);
                }
                default -> v.fail(TrainOption.OPTIMIZER_ARGS, "unknown optimizer argument " + kv[0] + " (weight_decay, betas" + (adam ? ", eps)" : ")"));
            }
        }
        return new TrainConfig.Optimizer(type, wd, b1, b2, eps);
    }

    private static LrSchedule.Kind scheduler(Values v) {
        try {
            return LrSchedule.Kind.parse(v.string(TrainOption.LR_SCHEDULER, "cosine"));
        } catch (IllegalArgumentException e) {
            throw v.error(TrainOption.LR_SCHEDULER, e.getMessage());
        }
    }

    private static Precision precision(Values v, TrainOption o, String dflt, boolean mixed) {
        String p = v.string(o, dflt).toLowerCase(Locale.ROOT);
        return switch (p) {
            case "fp16" -> Precision.FP16;
            case "bf16" -> Precision.BF16;
            case "no", "fp32", "float" -> {
                if (mixed ? p.equals("float") : p.equals("no")) throw v.error(o, "expected " + (mixed ? "no, fp16 or bf16" : "float, fp16 or bf16") + ", not " + p);
                yield Precision.FP32;
            }
            default -> throw v.error(o, "expected " + (mixed ? "no, fp16 or bf16" : "float, fp16 or bf16") + ", not " + p);
        };
    }

    private static String device(Values v) {
        String d = v.string(TrainOption.DEVICE, "auto").toLowerCase(Locale.ROOT);
        if (!d.matches("auto|host|cuda(:[0-9]+)?")) v.fail(TrainOption.DEVICE, "expected auto, host, cuda or cuda:N, not " + d);
        return d;
    }

    private static String[] keyValue(Values v, TrainOption o, String arg) {
        int eq = arg.indexOf('=');
        if (eq <= 0) v.fail(o, "expected key=value, not \"" + arg + "\"");
        return new String[] {arg.substring(0, eq).strip().toLowerCase(Locale.ROOT), arg.substring(eq + 1).strip()};
    }

    private static final class Values {
        private final Map<TrainOption, Setting> s;

        Values(Map<TrainOption, Setting> s) {
            this.s = s;
        }

        Object raw(TrainOption o) {
            Setting x = s.get(o);
            return x == null ? null : x.value();
        }

        IllegalArgumentException error(TrainOption o, String why) {
            Setting x = s.get(o);
            String where = x != null ? x.origin() : o.key();
            return new IllegalArgumentException(where + ": " + why);
        }

        void fail(TrainOption o, String why) {
            throw error(o, why);
        }

        String string(TrainOption o, String dflt) {
            Object x = raw(o);
            if (x == null) return dflt;
            if (!(x instanceof String str)) throw error(o, "expected a string, not " + x);
            return str.strip();
        }

        Path path(TrainOption o, boolean required) {
            String p = string(o, null);
            if (p == null || p.isEmpty()) {
                if (!required) return null;
                throw new IllegalArgumentException("missing " + o.flags()[0] + " (" + o.key() + " in a --config file): " + o.help());
            }
            return Path.of(p);
        }

        boolean bool(TrainOption o, boolean dflt) {
            Object x = raw(o);
            if (x == null) return dflt;
            if (x instanceof Boolean b) return b;
            if (x instanceof String str && (str.equalsIgnoreCase("true") || str.equalsIgnoreCase("false"))) return Boolean.parseBoolean(str);
            throw error(o, "expected true or false, not " + x);
        }

        List<String> list(TrainOption o) {
            Object x = raw(o);
            List<String> out = new ArrayList<>();
            if (x == null) return out;
            List<?> items = x instanceof List<?> l ? l : List.of(x);
            for (Object i : items) {
                if (!(i instanceof String str)) throw error(o, "expected strings such as \"key=value\", not " + i);
                for (String w : str.strip().split("\\s+")) if (!w.isEmpty()) out.add(w);
            }
            return out;
        }

        /** A number from a TOML number or a string; integral: must be a whole number. */
        double number(TrainOption o, Object x, double min, double max, boolean integral) {
            double d;
            if (x instanceof Number n) d = n.doubleValue();
            else if (x instanceof String str) {
                try {
                    d = Double.parseDouble(str.strip());
                } catch (NumberFormatException e) {
                    throw error(o, "expected a number, not \"" + str + "\"");
                }
            } else throw error(o, "expected a number, not " + x);
            if (integral && (d != Math.rint(d) || Double.isInfinite(d))) throw error(o, "expected a whole number, not " + x);
            if (!(d >= min && d <= max)) {
                throw error(o, "must be " + (max >= Integer.MAX_VALUE ? ">= " + fmt(min) : "in " + fmt(min) + ".." + fmt(max)) + ", not " + x);
            }
            return d;
        }

        int integer(TrainOption o, int dflt, int min, int max) {
            Integer i = intOrNull(o, min, max);
            return i == null ? dflt : i;
        }

        Integer intOrNull(TrainOption o, int min, int max) {
            Object x = raw(o);
            return x == null ? null : (int) number(o, x, min, max, true);
        }

        double positive(TrainOption o, double dflt) {
            Object x = raw(o);
            if (x == null) return dflt;
            double d = number(o, x, -Double.MAX_VALUE, Double.MAX_VALUE, false);
            if (!(d > 0)) throw error(o, "must be > 0, not " + x);
            return d;
        }

        double nonNegative(TrainOption o, double dflt) {
            Object x = raw(o);
            return x == null ? dflt : number(o, x, 0, Double.MAX_VALUE, false);
        }

        private static String fmt(double d) {
            return d == Math.rint(d) && Math.abs(d) < 1e15 ? String.valueOf((long) d) : String.valueOf(d);
        }
    }
}
