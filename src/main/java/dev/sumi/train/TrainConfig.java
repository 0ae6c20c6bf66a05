package dev.sumi.train;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The resolved settings of one training run, as {@link TrainConfigReader} builds them from flags, a TOML file and
 * the defaults (those of the AUTOMATIC1111 train-tools extension: Lion at 1e-4 with weight decay 0.1, cosine, rank
 * 128 alpha 64, 20 epochs saving every 2, batch 1, clip skip 2, 150 tokens, fp16). Every value is valid when the
 * record exists; the paths are not yet checked against the disk ({@link TrainConfigReader#checkPaths}).
 *
 * @param width             training width in pixels (kohya resolution "W,H")
 * @param maxTrainEpochs    null when only max_train_steps bounds the run
 * @param maxTrainSteps     null when the epochs bound the run
 * @param convDim           null: no LoRA on 3x3 convolutions
 * @param seed              null: drawn when training starts ({@link #withSeed})
 * @param minSnrGamma       null: no min-SNR weighting
 * @param repeats           null: "auto", {@link #repeatsFor(int)}
 * @param tokenizer         null: found beside the model or in the Hugging Face cache ({@code ClipTokenizer.locate})
 */
public record TrainConfig(
        Path pretrainedModel, Path trainDataDir, Path outputDir, String outputName,
        int width, int height, int trainBatchSize, Integer maxTrainEpochs, Integer maxTrainSteps,
        double learningRate, double unetLr, double textEncoderLr, Optimizer optimizer,
        LrSchedule.Kind lrScheduler, int lrWarmupSteps, int lrSchedulerNumCycles, double lrSchedulerPower,
        int networkDim, double networkAlpha, Integer convDim, double convAlpha, boolean trainUnet, boolean trainTextEncoder,
        int clipSkip, int maxTokenLength, Precision mixedPrecision, Precision savePrecision,
        int saveEveryNEpochs, boolean saveState, Path resume, Long seed,
        String captionExtension, String captionPrefix, boolean flipAug, boolean enableBucket, int minBucketReso, int maxBucketReso,
        double noiseOffset, Double minSnrGamma, boolean vParameterization, boolean gradientCheckpointing, double maxGradNorm,
        boolean cacheLatents, String device, boolean json, Integer repeats, boolean datasetCheckOnly, Path tokenizer, Previews previews) {

    /**
     * Preview images (kohya's sample_* options, and the grid train-tools draws after training). The sampler is kept as
     * written; the preview code checks it, and reads the prompt file, before the first step.
     *
     * @param samplePrompts  null: no previews and no grid
     * @param everyNEpochs   0: none during training
     * @param weights        the grid's LoRA weights (columns)
     * @param grid           draw the grid after training
     */
    public record Previews(Path samplePrompts, int everyNEpochs, boolean atFirst, String sampler, List<Double> weights, boolean grid) {
        public static final List<Double> DEFAULT_WEIGHTS = List.of(0.6, 0.7, 0.8, 0.9, 1.0);
        public static final Previews NONE = new Previews(null, 0, false, "euler_a", DEFAULT_WEIGHTS, false);

        public Previews {
            weights = List.copyOf(weights);
        }
    }

    /** AdamW (decoupled weight decay, eps) or Lion (sign update; no eps). */
    public record Optimizer(Type type, double weightDecay, double beta1, double beta2, double eps) {
        public enum Type { ADAMW, LION }

        /** kohya's ss_optimizer spelling: class name and the non-default arguments. */
        public String describe() {
            String name = type == Type.ADAMW ? "AdamW" : "Lion";
            String epsArg = type == Type.ADAMW ? ",eps=" + eps : "";
            return String.format(Locale.ROOT, "%s(weight_decay=%s,betas=(%s,%s)%s)", name, weightDecay, beta1, beta2, epsArg);
        }
    }

    /** kohya's mixed_precision (no, fp16, bf16) and save_precision (float, fp16, bf16). */
    public enum Precision {
        FP32("no", "float"), FP16("fp16", "fp16"), BF16("bf16", "bf16");

        public final String mixedName, saveName;

        Precision(String mixedName, String saveName) {
            this.mixedName = mixedName;
            this.saveName = saveName;
        }
    }

    public TrainConfig {
        Objects.requireNonNull(pretrainedModel, "pretrainedModel");
        Objects.requireNonNull(trainDataDir, "trainDataDir");
        Objects.requireNonNull(outputDir, "outputDir");
        Objects.requireNonNull(optimizer, "optimizer");
        if (maxTrainEpochs == null && maxTrainSteps == null) throw new IllegalArgumentException("neither max_train_epochs nor max_train_steps");
        if (!trainUnet && !trainTextEncoder) throw new IllegalArgumentException("neither the UNet nor the text encoder is trained");
    }

    /** Repeats of a plain image folder: the given number, or max(4, 512 / images) (the train-tools default). */
    public int repeatsFor(int images) {
        if (images < 1) throw new IllegalArgumentException(trainDataDir + ": no images");
        return repeats != null ? repeats : Math.max(4, 512 / images);
    }

    /** The learning-rate schedule of a run of totalSteps optimizer steps. */
    public LrSchedule lrSchedule(int totalSteps) {
        return new LrSchedule(lrScheduler, lrWarmupSteps, totalSteps, lrSchedulerNumCycles, lrSchedulerPower);
    }

    public TrainConfig withSeed(long newSeed) {
        return new TrainConfig(pretrainedModel, trainDataDir, outputDir, outputName, width, height, trainBatchSize, maxTrainEpochs,
                maxTrainSteps, learningRate, unetLr, textEncoderLr, optimizer, lrScheduler, lrWarmupSteps, lrSchedulerNumCycles,
                lrSchedulerPower, networkDim, networkAlpha, convDim, convAlpha, trainUnet, trainTextEncoder, clipSkip, maxTokenLength,
                mixedPrecision, savePrecision, saveEveryNEpochs, saveState, resume, newSeed, captionExtension, captionPrefix, flipAug,
                enableBucket, minBucketReso, maxBucketReso, noiseOffset, minSnrGamma, vParameterization, gradientCheckpointing,
                maxGradNorm, cacheLatents, device, json, repeats, datasetCheckOnly, tokenizer, previews);
    }

    /** Every setting under its kohya name, in {@link TrainOption} order: for --print-config and the saved state. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("pretrained_model_name_or_path", pretrainedModel.toString());
        m.put("train_data_dir", trainDataDir.toString());
        m.put("output_dir", outputDir.toString());
        m.put("output_name", outputName);
        m.put("resolution", width + "," + height);
        m.put("train_batch_size", trainBatchSize);
        m.put("max_train_epochs", maxTrainEpochs);
        m.put("max_train_steps", maxTrainSteps);
        m.put("learning_rate", learningRate);
        m.put("unet_lr", unetLr);
        m.put("text_encoder_lr", textEncoderLr);
        m.put("optimizer_type", optimizer.type() == Optimizer.Type.ADAMW ? "AdamW" : "Lion");
        List<String> args = new ArrayList<>(List.of("weight_decay=" + optimizer.weightDecay(), "betas=" + optimizer.beta1() + "," + optimizer.beta2()));
        if (optimizer.type() == Optimizer.Type.ADAMW) args.add("eps=" + optimizer.eps());
        m.put("optimizer_args", args);
        m.put("lr_scheduler", lrScheduler.kohyaName());
        m.put("lr_warmup_steps", lrWarmupSteps);
        m.put("lr_scheduler_num_cycles", lrSchedulerNumCycles);
        m.put("lr_scheduler_power", lrSchedulerPower);
        m.put("network_module", "networks.lora");
        m.put("network_dim", networkDim);
        m.put("network_alpha", networkAlpha);
        m.put("conv_dim", convDim);
        m.put("conv_alpha", convDim == null ? null : convAlpha);
        m.put("network_train_unet_only", trainUnet && !trainTextEncoder);
        m.put("network_train_text_encoder_only", trainTextEncoder && !trainUnet);
        m.put("clip_skip", clipSkip);
        m.put("max_token_length", maxTokenLength);
        m.put("mixed_precision", mixedPrecision.mixedName);
        m.put("save_precision", savePrecision.saveName);
        m.put("save_model_as", "safetensors");
        m.put("save_every_n_epochs", saveEveryNEpochs);
        m.put("save_state", saveState);
        m.put("resume", resume == null ? null : resume.toString());
        m.put("seed", seed);
        m.put("caption_extension", captionExtension);
        m.put("caption_prefix", captionPrefix);
        m.put("flip_aug", flipAug);
        m.put("enable_bucket", enableBucket);
        m.put("min_bucket_reso", minBucketReso);
        m.put("max_bucket_reso", maxBucketReso);
        m.put("noise_offset", noiseOffset);
        m.put("min_snr_gamma", minSnrGamma);
        m.put("v_parameterization", vParameterization);
        m.put("gradient_checkpointing", gradientCheckpointing);
        m.put("max_grad_norm", maxGradNorm);
        m.put("cache_latents", cacheLatents);
        m.put("device", device);
        m.put("json", json);
        m.put("repeats", repeats == null ? "auto" : repeats);
        m.put("dataset_check_only", datasetCheckOnly);
        m.put("tokenizer", tokenizer == null ? null : tokenizer.toString());
        m.put("sample_prompts", previews.samplePrompts() == null ? null : previews.samplePrompts().toString());
        m.put("sample_every_n_epochs", previews.everyNEpochs());
        m.put("sample_at_first", previews.atFirst());
        m.put("sample_sampler", previews.sampler());
        m.put("preview_weights", previews.weights().stream().map(String::valueOf).toList());
        m.put("preview_grid", previews.grid());
        return m;
    }

    /** The settings a saved state must share with this run to be resumed: the shapes of the LoRA and optimizer tensors. */
    static final List<String> RESUME_MUST_MATCH = List.of("network_dim", "network_alpha", "conv_dim", "conv_alpha",
            "network_train_unet_only", "network_train_text_encoder_only", "optimizer_type", "pretrained_model_name_or_path");

    /** "key: saved X, now Y" for each setting in which a saved state's config (its {@link #toMap()}) differs. */
    public List<String> resumeMismatches(Map<String, Object> saved) {
        List<String> out = new ArrayList<>();
        Map<String, Object> now = toMap();
        for (String k : RESUME_MUST_MATCH) {
            String a = String.valueOf(saved.get(k)), b = String.valueOf(now.get(k));
            if (!a.equals(b)) out.add(k + ": saved " + a + ", now " + b);
        }
        return out;
    }

    /**
     * The run's ss_* metadata values by kohya's key names (kohya train_network.py), unformatted: the LoRA file
     * writer turns them into strings (ss_network_args as JSON). Values the loop knows only later (images, batches,
     * hashes, times) and the dataset's own entries (kohya's ss_datasets: resolution, buckets, flip) are not here.
     */
    public Map<String, Object> kohyaMetadata() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ss_learning_rate", learningRate);
        m.put("ss_unet_lr", unetLr);
        m.put("ss_text_encoder_lr", textEncoderLr);
        m.put("ss_network_module", "networks.lora");
        m.put("ss_network_dim", networkDim);
        m.put("ss_network_alpha", networkAlpha);
        Map<String, String> networkArgs = new LinkedHashMap<>();
        if (convDim != null) {
            networkArgs.put("conv_dim", String.valueOf(convDim));
            networkArgs.put("conv_alpha", String.valueOf(convAlpha));
        }
        m.put("ss_network_args", networkArgs);
        m.put("ss_optimizer", optimizer.describe());
        m.put("ss_lr_scheduler", lrScheduler.kohyaName());
        m.put("ss_lr_warmup_steps", lrWarmupSteps);
        m.put("ss_num_epochs", maxTrainEpochs);
        m.put("ss_max_train_steps", maxTrainSteps);
        m.put("ss_clip_skip", clipSkip);
        m.put("ss_max_token_length", maxTokenLength);
        m.put("ss_mixed_precision", mixedPrecision.mixedName);
        m.put("ss_seed", seed);
        m.put("ss_noise_offset", noiseOffset == 0 ? null : noiseOffset);
        m.put("ss_min_snr_gamma", minSnrGamma);
        m.put("ss_gradient_checkpointing", gradientCheckpointing);
        m.put("ss_max_grad_norm", maxGradNorm);
        m.put("ss_cache_latents", cacheLatents);
        m.put("ss_output_name", outputName);
        return m;
    }
}
