package dev.sumi.lora;

import dev.sumi.model.ModelArchitecture.Lineage;

import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.sumi.lora.KohyaLoraSpelling.jsonDumps;
import static dev.sumi.lora.KohyaLoraSpelling.pyFloat;
import static dev.sumi.lora.KohyaLoraSpelling.pyStr;

/**
 * The training metadata a kohya LoRA carries, typed; {@link #toMap()} spells it as kohya sd-scripts'
 * {@code train_network.py} does ({@code metadata = {k: str(v)}}, {@code json.dumps} for the dataset values) plus
 * the {@code modelspec.*} keys of {@code library/sai_model_spec.py build_metadata(..., lora=True)}. The
 * {@code sshs_*} hashes are not here: {@link KohyaLoraFile#write} computes them from the tensors.
 * Nullable components are written as {@code None}, as kohya writes an unset argument.
 *
 * @param lineage            ss_base_model_version, ss_v2, modelspec.architecture
 * @param vPrediction        v-parameterization (ss_base_model_version "_v", modelspec prediction_type "v")
 * @param outputName         ss_output_name and modelspec.title (kohya's default title is "LoRA@&lt;time&gt;")
 * @param sdModelName        ss_sd_model_name: the base model's file name (kohya: basename of an existing path)
 * @param sdModelHash        ss_sd_model_hash: A1111's legacy 8-digit hash of the base model file, or null
 * @param newSdModelHash     ss_new_sd_model_hash: sha256 of the whole base model file, or null
 * @param networkArgs        ss_network_args (json of kohya's --network_args, e.g. conv_dim/conv_alpha as strings), or null
 * @param resolution         ss_resolution (width, height) and modelspec.resolution
 * @param tagFrequency       ss_tag_frequency: image folder -> tag -> count
 * @param datasetDirs        ss_dataset_dirs: image folder -> repeats and image count
 * @param trainingStartedAt  unix time in seconds (Python's time.time())
 * @param implementationVersion modelspec.implementation_version, e.g. "sumi/0.1.0" (kohya: "sd-scripts/&lt;commit&gt;"), or null
 */
public record KohyaLoraMetadata(Lineage lineage, boolean vPrediction, String outputName,
                                String sdModelName, String sdModelHash, String newSdModelHash,
                                String networkModule, int networkDim, double networkAlpha, Map<String, String> networkArgs,
                                int resolutionWidth, int resolutionHeight, Integer clipSkip, Integer maxTokenLength,
                                int numTrainImages, int numEpochs, int epoch, long steps, int batchSizePerDevice,
                                double learningRate, Double unetLr, Double textEncoderLr, String optimizer, String lrScheduler,
                                Double noiseOffset, Double minSnrGamma, Long seed,
                                Map<String, Map<String, Integer>> tagFrequency, Map<String, DatasetDir> datasetDirs,
                                double trainingStartedAt, double trainingFinishedAt, String implementationVersion) {

    /** One image folder of ss_dataset_dirs. */
    public record DatasetDir(int nRepeats, int imgCount) {}

    /** kohya's names for sumi's optimizers ({@code optimizer_class.__module__ + "." + __name__}). */
    public static final String ADAMW = "torch.optim.adamw.AdamW";
    public static final String LION = "lion_pytorch.lion_pytorch.Lion";

    public KohyaLoraMetadata {
        if (lineage == null) throw new IllegalArgumentException("LoRA metadata: the base model lineage is required");
        if (networkModule == null || optimizer == null || lrScheduler == null) throw new IllegalArgumentException("LoRA metadata: network module, optimizer and LR scheduler are required");
        if (networkDim <= 0) throw new IllegalArgumentException("LoRA metadata: network dim " + networkDim + " must be positive");
        if (resolutionWidth <= 0 || resolutionHeight <= 0) throw new IllegalArgumentException("LoRA metadata: resolution " + resolutionWidth + "x" + resolutionHeight);
        networkArgs = networkArgs == null ? null : Collections.unmodifiableMap(new LinkedHashMap<>(networkArgs));
        tagFrequency = tagFrequency == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(tagFrequency));
        datasetDirs = datasetDirs == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(datasetDirs));
    }

    public static Builder builder(Lineage lineage) {
        return new Builder(lineage);
    }

    /** {@code model_util.get_model_version_str_for_sd1_sd2} / {@code sdxl_model_util.MODEL_VERSION_SDXL_BASE_V1_0}. */
    public String baseModelVersion() {
        return switch (lineage) {
            case SD1 -> "sd_v1" + (vPrediction ? "_v" : "");
            case SD2 -> "sd_v2" + (vPrediction ? "_v" : "");
            case SDXL -> "sdxl_base_v1-0";
        };
    }

    /** {@code sai_model_spec.determine_architecture(..., lora=True)}. */
    public String modelSpecArchitecture() {
        String arch = switch (lineage) {
            case SD1 -> "stable-diffusion-v1";
            case SD2 -> vPrediction ? "stable-diffusion-v2-768-v" : "stable-diffusion-v2-512";
            case SDXL -> "stable-diffusion-xl-v1-base";
        };
        return arch + "/lora";
    }

    /** The metadata as kohya writes it, in train_network.py's order, modelspec last. */
    public Map<String, String> toMap() {
        Map<String, Object> ss = new LinkedHashMap<>();
        ss.put("ss_training_started_at", trainingStartedAt);
        ss.put("ss_output_name", outputName);
        ss.put("ss_learning_rate", learningRate);
        ss.put("ss_text_encoder_lr", textEncoderLr);
        ss.put("ss_unet_lr", unetLr);
        ss.put("ss_num_train_images", numTrainImages);
        ss.put("ss_num_epochs", numEpochs);
        ss.put("ss_lr_scheduler", lrScheduler);
        ss.put("ss_network_module", networkModule);
        ss.put("ss_network_dim", networkDim);
        ss.put("ss_network_alpha", networkAlpha);
        ss.put("ss_v2", lineage == Lineage.SD2);
        ss.put("ss_base_model_version", baseModelVersion());
        ss.put("ss_clip_skip", clipSkip);
        ss.put("ss_max_token_length", maxTokenLength);
        ss.put("ss_seed", seed);
        ss.put("ss_noise_offset", noiseOffset);
        ss.put("ss_optimizer", optimizer);
        ss.put("ss_min_snr_gamma", minSnrGamma);
        ss.put("ss_batch_size_per_device", batchSizePerDevice);
        ss.put("ss_resolution", List.of(resolutionWidth, resolutionHeight));
        Map<String, Object> dirs = new LinkedHashMap<>();
        datasetDirs.forEach((dir, d) -> {
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("n_repeats", d.nRepeats());
            info.put("img_count", d.imgCount());
            dirs.put(dir, info);
        });
        ss.put("ss_dataset_dirs", jsonDumps(dirs));
        ss.put("ss_tag_frequency", jsonDumps(tagFrequency));
        if (networkArgs != null) ss.put("ss_network_args", jsonDumps(networkArgs));
        if (sdModelHash != null) ss.put("ss_sd_model_hash", sdModelHash);
        if (newSdModelHash != null) ss.put("ss_new_sd_model_hash", newSdModelHash);
        if (sdModelName != null) ss.put("ss_sd_model_name", sdModelName);
        ss.put("ss_training_finished_at", trainingFinishedAt);
        ss.put("ss_steps", steps);
        ss.put("ss_epoch", epoch);

        Map<String, String> out = new LinkedHashMap<>();
        ss.forEach((k, v) -> out.put(k, pyStr(v)));
        out.put("modelspec.architecture", modelSpecArchitecture());
        out.put("modelspec.implementation", lineage == Lineage.SDXL ? "https://github.com/Stability-AI/generative-models" : "diffusers");
        out.put("modelspec.title", outputName != null ? outputName : "LoRA@" + pyFloat(trainingFinishedAt));
        out.put("modelspec.resolution", resolutionWidth + "x" + resolutionHeight);
        out.put("modelspec.sai_model_spec", "1.0.1");
        // datetime.fromtimestamp(int(t)).isoformat(): local time, whole seconds, no zone
        out.put("modelspec.date", LocalDateTime.ofInstant(Instant.ofEpochSecond((long) Math.floor(trainingFinishedAt)), ZoneId.systemDefault()).toString()
                .replaceFirst("^(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d)$", "$1:00"));
        out.put("modelspec.prediction_type", vPrediction ? "v" : "epsilon");
        if (clipSkip != null) out.put("modelspec.encoder_layer", clipSkip.toString());
        if (implementationVersion != null) out.put("modelspec.implementation_version", implementationVersion);
        return out;
    }

    /** Builds the metadata with kohya's argument defaults (network alpha 1, constant schedule, AdamW, 512 px, unset = None). */
    public static final class Builder {
        private final Lineage lineage;
        private boolean vPrediction;
        private String outputName, sdModelName, sdModelHash, newSdModelHash, implementationVersion;
        private String networkModule = "networks.lora";
        private int networkDim = 4;
        private double networkAlpha = 1;
        private Map<String, String> networkArgs;
        private int width, height;
        private Integer clipSkip, maxTokenLength;
        private int numTrainImages, numEpochs = 1, epoch = 1, batchSizePerDevice = 1;
        private long steps;
        private double learningRate = 1e-4;
        private Double unetLr, textEncoderLr, noiseOffset, minSnrGamma;
        private String optimizer = ADAMW, lrScheduler = "constant";
        private Long seed;
        private Map<String, Map<String, Integer>> tagFrequency = Map.of();
        private Map<String, DatasetDir> datasetDirs = Map.of();
        private double startedAt, finishedAt;

        private Builder(Lineage lineage) {
            this.lineage = lineage;
            int side = lineage == Lineage.SDXL ? 1024 : 512;
            this.width = side;
            this.height = side;
        }

        public Builder vPrediction(boolean v) { this.vPrediction = v; return this; }
        public Builder outputName(String name) { this.outputName = name; return this; }
        /** The base model's file name and its hashes (A1111 legacy 8 digits, full sha256), as kohya records an existing file. */
        public Builder baseModel(String fileName, String legacyHash, String sha256) {
            this.sdModelName = fileName;
            this.sdModelHash = legacyHash;
            this.newSdModelHash = sha256;
            return this;
        }
        public Builder network(String module, int dim, double alpha) { this.networkModule = module; this.networkDim = dim; this.networkAlpha = alpha; return this; }
        /** LoCon: kohya's {@code --network_args conv_dim=N conv_alpha=A}, recorded as the strings given. */
        public Builder convDimAlpha(int convDim, String convAlpha) {
            Map<String, String> args = new LinkedHashMap<>(networkArgs == null ? Map.of() : networkArgs);
            args.put("conv_dim", Integer.toString(convDim));
            args.put("conv_alpha", convAlpha);
            this.networkArgs = args;
            return this;
        }
        public Builder networkArgs(Map<String, String> args) { this.networkArgs = args; return this; }
        public Builder resolution(int w, int h) { this.width = w; this.height = h; return this; }
        public Builder clipSkip(Integer skip) { this.clipSkip = skip; return this; }
        public Builder maxTokenLength(Integer n) { this.maxTokenLength = n; return this; }
        public Builder images(int numTrainImages, int batchSizePerDevice) { this.numTrainImages = numTrainImages; this.batchSizePerDevice = batchSizePerDevice; return this; }
        /** The epoch and step count this file holds, of {@code numEpochs}. */
        public Builder progress(int epoch, int numEpochs, long steps) { this.epoch = epoch; this.numEpochs = numEpochs; this.steps = steps; return this; }
        public Builder learningRates(double lr, Double unetLr, Double textEncoderLr) { this.learningRate = lr; this.unetLr = unetLr; this.textEncoderLr = textEncoderLr; return this; }
        public Builder optimizer(String kohyaName) { this.optimizer = kohyaName; return this; }
        public Builder lrScheduler(String name) { this.lrScheduler = name; return this; }
        public Builder noiseOffset(Double v) { this.noiseOffset = v; return this; }
        public Builder minSnrGamma(Double v) { this.minSnrGamma = v; return this; }
        public Builder seed(Long seed) { this.seed = seed; return this; }
        public Builder tagFrequency(Map<String, Map<String, Integer>> f) { this.tagFrequency = f; return this; }
        public Builder datasetDirs(Map<String, DatasetDir> d) { this.datasetDirs = d; return this; }
        /** Unix times in seconds, as Python's time.time(). */
        public Builder times(double startedAt, double finishedAt) { this.startedAt = startedAt; this.finishedAt = finishedAt; return this; }
        public Builder implementationVersion(String v) { this.implementationVersion = v; return this; }

        public KohyaLoraMetadata build() {
            return new KohyaLoraMetadata(lineage, vPrediction, outputName, sdModelName, sdModelHash, newSdModelHash,
                    networkModule, networkDim, networkAlpha, networkArgs, width, height, clipSkip, maxTokenLength,
                    numTrainImages, numEpochs, epoch, steps, batchSizePerDevice, learningRate, unetLr, textEncoderLr,
                    optimizer, lrScheduler, noiseOffset, minSnrGamma, seed, tagFrequency, datasetDirs, startedAt, finishedAt,
                    implementationVersion);
        }
    }
}
