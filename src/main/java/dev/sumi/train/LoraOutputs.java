package dev.sumi.train;

import dev.sumi.data.Dataset;
import dev.sumi.lora.A1111LoraNames;
import dev.sumi.lora.DeviceLora;
import dev.sumi.lora.KohyaLoraFile;
import dev.sumi.lora.KohyaLoraMetadata;
import dev.sumi.lora.LoraNetwork;
import dev.sumi.lora.LoraTensors;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.ModelArchitecture;
import dev.sumi.model.ModelHashes;
import dev.sumi.tensor.DType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What a run writes, named as the train-tools extension and kohya name them: {@code <name>-000002.safetensors}
 * every save_every_n_epochs, {@code <name>.safetensors} at the end, states {@code <name>-000002-state} and
 * {@code <name>-state}. A fresh run refuses to start when one of its LoRA files or state folders already exists
 * ({@link #refuseExisting}: sumi never replaces a file it did not write in this run); a resumed run may rewrite the
 * epochs it replays.
 */
final class LoraOutputs {
    private final TrainConfig config;
    private final LoraNetwork network;
    private final DeviceLora lora;
    private final A1111LoraNames.Modules base;
    private final KohyaLoraMetadata.Builder metadata;
    private final boolean overwrite;
    private final int epochs;

    LoraOutputs(TrainConfig config, ModelArchitecture arch, Checkpoint checkpoint, LoraNetwork network, DeviceLora lora,
                Dataset dataset, int epochs, double startedAt, boolean resuming) throws IOException {
        this.config = config;
        this.network = network;
        this.lora = lora;
        this.epochs = epochs;
        this.base = A1111LoraNames.of(arch);
        this.overwrite = resuming;
        Files.createDirectories(config.outputDir());
        Path model = config.pretrainedModel();
        ModelHashes hashes = Files.isRegularFile(model) ? ModelHashes.of(model) : null;
        Map<String, KohyaLoraMetadata.DatasetDir> dirs = new LinkedHashMap<>();
        for (var e : dataset.datasetDirs().entrySet()) dirs.put(e.getKey(), new KohyaLoraMetadata.DatasetDir(e.getValue().get("n_repeats"), e.getValue().get("img_count")));
        this.metadata = KohyaLoraMetadata.builder(arch.lineage())
                .vPrediction(checkpoint.prediction().v())
                .outputName(config.outputName())
                .baseModel(model.getFileName().toString(), hashes == null ? null : hashes.legacyHash(), hashes == null ? null : hashes.sha256())
                .network("networks.lora", config.networkDim(), config.networkAlpha())
                .resolution(config.width(), config.height())
                .clipSkip(config.clipSkip())
                .maxTokenLength(config.maxTokenLength())
                .images(dataset.imagesWithRepeats(), config.trainBatchSize())
                .learningRates(config.learningRate(), config.trainUnet() ? config.unetLr() : null, config.trainTextEncoder() ? config.textEncoderLr() : null)
                .optimizer(config.optimizer().type() == TrainConfig.Optimizer.Type.ADAMW ? KohyaLoraMetadata.ADAMW : KohyaLoraMetadata.LION)
                .lrScheduler(config.lrScheduler().kohyaName())
                .noiseOffset(config.noiseOffset() == 0 ? null : config.noiseOffset())
                .minSnrGamma(config.minSnrGamma())
                .seed(config.seed())
                .tagFrequency(dataset.tagFrequency())
                .datasetDirs(dirs)
                .implementationVersion("sumi/" + version());
        if (config.convDim() != null) metadata.convDimAlpha(config.convDim(), formatAlpha(config.convAlpha()));
        this.startedAt = startedAt;
    }

    private final double startedAt;

    private static String version() {
        String v = LoraOutputs.class.getPackage().getImplementationVersion();
        return v != null ? v : "dev";
    }

    private static String formatAlpha(double a) {
        return a == Math.rint(a) ? Long.toString((long) a) : Double.toString(a);
    }

    /**
     * Refuses a fresh run of {@code epochs} epochs when a file or state folder it may write exists. An interrupt may
     * come at any step, so the interrupted state's folder counts too: replacing it would lose the state a user meant
     * to --resume. Called before the expensive setup (latents, text), so a refusal is immediate.
     */
    static void refuseExisting(TrainConfig config, int epochs) {
        List<Path> written = new ArrayList<>(List.of(interruptedStateDir(config)));
        for (int e = 1; e <= epochs; e++) {
            boolean last = e == epochs;
            if (!last && (config.saveEveryNEpochs() == 0 || e % config.saveEveryNEpochs() != 0)) continue;
            written.add(loraFile(config, e, last));
            if (config.saveState()) written.add(stateDir(config, e, last));
        }
        for (Path f : written) {
            if (Files.exists(f)) {
                String resume = f.getFileName().toString().endsWith("-state") ? ", or continue it with --resume " + f : "";
                throw new TrainingException(f + ": already exists; choose another --output-name or --output-dir" + resume + " (sumi does not replace files it did not write in this run)");
            }
        }
    }

    Path loraFile(int epoch, boolean last) {
        return loraFile(config, epoch, last);
    }

    private static Path loraFile(TrainConfig config, int epoch, boolean last) {
        return config.outputDir().resolve(last ? config.outputName() + ".safetensors" : String.format(Locale.ROOT, "%s-%06d.safetensors", config.outputName(), epoch));
    }

    Path stateDir(int epoch, boolean last) {
        return stateDir(config, epoch, last);
    }

    private static Path stateDir(TrainConfig config, int epoch, boolean last) {
        return config.outputDir().resolve(last ? config.outputName() + "-state" : String.format(Locale.ROOT, "%s-%06d-state", config.outputName(), epoch));
    }

    Path interruptedStateDir() {
        return interruptedStateDir(config);
    }

    private static Path interruptedStateDir(TrainConfig config) {
        return config.outputDir().resolve(config.outputName() + "-state");
    }

    /** Writes the LoRA as it is after {@code steps} steps, epoch {@code epoch} done; the file is checked by A1111's rules before it appears. */
    Path saveLora(int epoch, long steps, boolean last) throws IOException {
        lora.download();
        List<LoraTensors> modules = new ArrayList<>(network.export().values());
        KohyaLoraMetadata m = metadata.progress(epoch, epochs, steps).times(startedAt, System.currentTimeMillis() / 1000.0).build();
        Path file = loraFile(epoch, last);
        KohyaLoraFile.write(file, modules, m, saveType(), base, overwrite);
        return file;
    }

    private DType saveType() {
        return switch (config.savePrecision()) {
            case FP16 -> DType.F16;
            case BF16 -> DType.BF16;
            case FP32 -> DType.F32;
        };
    }

    Path saveState(Path dir, TrainState state) throws IOException {
        state.save(dir);
        return dir;
    }
}
