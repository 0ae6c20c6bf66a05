package dev.sumi.train;

import dev.sumi.data.BucketOptions;
import dev.sumi.data.Buckets;
import dev.sumi.data.CaptionOptions;
import dev.sumi.data.Captions;
import dev.sumi.data.Dataset;
import dev.sumi.data.DatasetCheck;
import dev.sumi.data.DatasetScan;
import dev.sumi.data.EpochPlan;
import dev.sumi.data.Placement;
import dev.sumi.device.Device;
import dev.sumi.device.DeviceSelector;
import dev.sumi.lora.DeviceLora;
import dev.sumi.lora.LoraNetwork;
import dev.sumi.lora.LoraOptions;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.LdmComponent;
import dev.sumi.model.ModelArchitecture;
import dev.sumi.model.Prediction;
import dev.sumi.model.SharedWeights;
import dev.sumi.model.clip.ClipTokenizer;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.unet.UNetLayout;
import dev.sumi.model.unet.UNetOptions;
import dev.sumi.ops.LossOps;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * sumi's LoRA training loop: kohya sd-scripts' train_network.py in one place, on sumi's own networks.
 *
 * <pre>
 * setup    dataset scan + check -> buckets -> latents cached (VAE, F32) -> captions encoded once (frozen text
 *          encoder) or the encoder kept live (trained / shuffled captions) -> LoRA modules (kohya's rules) on the
 *          device -> one multi-tensor optimizer over every F32 master
 * step     x0 = cached latents; noise ~ N(0, 1) (+ offset); t ~ U[0, 1000); x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise
 *          loss = mean_b w_b |unet(x_t, t, context) - target|^2 / numel (target noise or v, w min-SNR or 1)
 *          backward into the LoRA gradients (through the text encoder when it trains); grad norm + non-finite
 *          check; AdamW or Lion with clipping at the scheduled rate; masters cast for the next forward
 * epochs   kohya's bucket plan per epoch; a kohya-format file every save_every_n_epochs and at the end;
 *          resumable state with --save-state, on Ctrl-C, and --resume continues bit-exactly on the same device
 * </pre>
 * Every random draw comes from {@link TrainRng}s seeded by the run's seed (noise, timesteps, caption shuffles)
 * or from the seeded epoch plan, so a resumed run replays exactly what an uninterrupted one does.
 */
public final class LoraTrainer implements Trainer {

    /** A run stops when this many optimizer steps in a row meet a non-finite loss or gradient (DESIGN 4, NaN guard). */
    static final int MAX_SKIPS_IN_A_ROW = 20;

    private final int maxSkipsInARow;
    private final TrainingHooks hooks;

    public LoraTrainer() {
        this(TrainingHooks.NONE);
    }

    /** A loop that lets {@code hooks} use the live model between epochs (preview images). */
    public LoraTrainer(TrainingHooks hooks) {
        this(MAX_SKIPS_IN_A_ROW, hooks);
    }

    /** A loop that gives up after {@code maxSkipsInARow} non-finite steps (tests reach the NaN guard in a few steps). */
    LoraTrainer(int maxSkipsInARow, TrainingHooks hooks) {
        this.maxSkipsInARow = maxSkipsInARow;
        this.hooks = hooks;
    }

    @Override
    public void train(TrainConfig config, ProgressSink progress, Interrupt interrupt) throws Exception {
        TrainState resumed = config.resume() != null ? TrainState.load(config.resume()) : null;
        if (resumed != null) config = resumedConfig(config, resumed);
        Dataset dataset = scan(config);
        BucketOptions bucketOptions = config.enableBucket()
                ? new BucketOptions(config.width(), config.height(), true, config.minBucketReso(), config.maxBucketReso(), 64, false)
                : new BucketOptions(config.width(), config.height(), false, 0, 0, 0, false);
        DatasetCheck.Report report = DatasetCheck.run(dataset, bucketOptions);
        progress.message(report.toString());
        if (!report.ok()) throw new TrainingException(config.trainDataDir() + ": the dataset check found " + report.errors().size() + " error(s); first: " + report.errors().getFirst());
        if (config.datasetCheckOnly()) return;
        List<Placement.Placed> placed = Placement.place(dataset, new Buckets(bucketOptions));
        List<EpochPlan.Item> items = Placement.items(placed);
        int stepsPerEpoch = EpochPlan.stepsPerEpoch(items, config.trainBatchSize());
        int epochs = config.maxTrainEpochs() != null ? config.maxTrainEpochs() : Math.ceilDiv(config.maxTrainSteps(), stepsPerEpoch);
        long totalSteps = config.maxTrainEpochs() != null ? (long) epochs * stepsPerEpoch : config.maxTrainSteps();
        if (resumed == null) LoraOutputs.refuseExisting(config, epochs);

        try (Checkpoint checkpoint = Checkpoint.open(config.pretrainedModel(), config.vParameterization() ? Boolean.TRUE : null);
             Device device = DeviceSelector.open(config.device())) {
            ModelArchitecture arch = checkpoint.architecture();
            if (arch.unet() == null || arch.vae() == null || arch.textEncoders().isEmpty()) {
                throw new TrainingException(config.pretrainedModel() + ": needs a UNet, a VAE and a text encoder (found " + arch.family() + ")");
            }
            if (arch.lineage() == ModelArchitecture.Lineage.SDXL) throw new TrainingException(config.pretrainedModel() + ": SDXL training is not supported yet");
            if (config.clipSkip() > arch.textEncoders().getFirst().config().layers()) {
                throw new TrainingException("clip_skip " + config.clipSkip() + ": the text encoder has only " + arch.textEncoders().getFirst().config().layers() + " layers");
            }
            DType dtype = switch (config.mixedPrecision()) {
                case FP16 -> DType.F16;
                case BF16 -> DType.BF16;
                case FP32 -> DType.F32;
            };
            RunContext run = new RunContext(config, checkpoint, arch, device, dtype, dataset, placed, items, stepsPerEpoch, epochs, totalSteps,
                    checkpoint.prediction().v(), progress, interrupt, maxSkipsInARow, hooks);
            run.go(resumed);
        }
    }

    private static TrainConfig resumedConfig(TrainConfig config, TrainState state) {
        Object savedSeed = state.config().get("seed");   // a JSON number: its text is the long
        if (savedSeed == null) throw new TrainingException(config.resume() + ": the state has no seed");
        try {
            config = config.withSeed(Long.parseLong(String.valueOf(savedSeed)));
        } catch (NumberFormatException e) {
            throw new TrainingException(config.resume() + ": the state's seed is not an integer: " + savedSeed);
        }
        List<String> mismatches = config.resumeMismatches(state.config());
        if (!mismatches.isEmpty()) {
            throw new TrainingException(config.resume() + ": the state was saved with other settings: " + String.join("; ", mismatches));
        }
        return config;
    }

    static CaptionOptions captionOptions(TrainConfig config) {
        return new CaptionOptions(config.captionExtension(), config.captionPrefix(), null, false, 0);
    }

    private static Dataset scan(TrainConfig config) {
        CaptionOptions captions = captionOptions(config);
        Dataset first = DatasetScan.scan(config.trainDataDir(), 1, captions);
        boolean plainFolder = first.subsets().size() == 1 && first.subsets().getFirst().dir().equals(config.trainDataDir());
        if (!plainFolder || first.imageCount() == 0) return first;
        return DatasetScan.scan(config.trainDataDir(), config.repeatsFor(first.imageCount()), captions);
    }

    /** Everything one run holds; {@link #go} builds it on the device and runs the epochs. */
    private static final class RunContext {
        final TrainConfig config;
        final Checkpoint checkpoint;
        final ModelArchitecture arch;
        final Device device;
        final DType dtype;
        final Dataset dataset;
        final List<Placement.Placed> placed;
        final List<EpochPlan.Item> items;
        final int stepsPerEpoch, epochs;
        final long totalSteps;
        final boolean vPrediction;
        final ProgressSink progress;
        final Interrupt interrupt;
        final int maxSkipsInARow;
        final TrainingHooks hooks;
        final NoiseSchedule schedule = NoiseSchedule.stableDiffusion();
        final LrSchedule lrSchedule;

        RunContext(TrainConfig config, Checkpoint checkpoint, ModelArchitecture arch, Device device, DType dtype, Dataset dataset,
                   List<Placement.Placed> placed, List<EpochPlan.Item> items, int stepsPerEpoch, int epochs, long totalSteps,
                   boolean vPrediction, ProgressSink progress, Interrupt interrupt, int maxSkipsInARow, TrainingHooks hooks) {
            this.config = config;
            this.checkpoint = checkpoint;
            this.arch = arch;
            this.device = device;
            this.dtype = dtype;
            this.dataset = dataset;
            this.placed = placed;
            this.items = items;
            this.stepsPerEpoch = stepsPerEpoch;
            this.epochs = epochs;
            this.totalSteps = totalSteps;
            this.vPrediction = vPrediction;
            this.progress = progress;
            this.interrupt = interrupt;
            this.maxSkipsInARow = maxSkipsInARow;
            this.hooks = hooks;
            this.lrSchedule = config.lrSchedule(Math.toIntExact(totalSteps));
        }

        void go(TrainState resumed) throws Exception {
            long seed = config.seed();
            double startedAt = System.currentTimeMillis() / 1000.0;
            ModelArchitecture.TextEncoder te = arch.textEncoders().getFirst();
            ClipTokenizer tokenizer = ClipTokenizer.locate(config.pretrainedModel(), config.tokenizer());

            progress.message("caching latents of " + placed.size() + " images" + (config.flipAug() ? " (and their mirror images)" : "") + " on " + device.name());
            LatentCache latents = LatentCache.encode(checkpoint, arch.vae(), device, placed, config.flipAug(), seed, n -> {});

            LoraOptions loraOptions = new LoraOptions(config.networkDim(), (float) config.networkAlpha(),
                    config.convDim() == null ? 0 : config.convDim(), (float) config.convAlpha(), config.trainUnet(), config.trainTextEncoder(), 1f, seed);
            LoraNetwork network = LoraNetwork.create(loraOptions, arch.lineage(), arch.unet(), te.config());
            if (resumed != null) network.load(TrainStateIo.loraFrom(resumed, network));

            List<String> captions = new ArrayList<>();
            CaptionOptions captionOptions = captionOptions(config);
            for (Placement.Placed p : placed) captions.add(Captions.process(p.image().caption(), captionOptions, new Random(0)));
            boolean liveText = config.trainTextEncoder();
            try (DeviceLora lora = network.upload(device, dtype);
                 TextConditioning text = liveText
                         ? TextConditioning.live(checkpoint, te.component().prefix, te.config(), tokenizer, config.maxTokenLength(), config.clipSkip(), device, dtype,
                         lora.adapters(Component.TEXT_ENCODER))
                         : TextConditioning.cached(checkpoint, te.component().prefix, te.config(), tokenizer, captions, config.maxTokenLength(), config.clipSkip(), device, dtype);
                 SharedWeights unetWeights = SharedWeights.load(checkpoint, LdmComponent.UNET.prefix, UNetLayout.parameters(arch.unet()), device, dtype);
                 LoraOptimizer optimizer = new LoraOptimizer(config, lora, network)) {
                if (resumed != null) optimizer.restore(resumed);
                LoraOutputs outputs = new LoraOutputs(config, arch, checkpoint, network, lora, dataset, epochs, startedAt, resumed != null);
                TrainingHooks.LiveModel live = new TrainingHooks.LiveModel(config, checkpoint, device, dtype, tokenizer, unetWeights, lora, progress);
                Loop loop = new Loop(this, latents, text, lora, unetWeights, optimizer, outputs, live);
                loop.run(resumed);
            }
        }
    }

    private static long used(Device device) {
        var m = device.memoryInfo();
        return m.total() > 0 ? m.total() - m.free() : -1;
    }

    /** The epochs and steps, with their device buffers. */
    private static final class Loop {
        final RunContext run;
        final LatentCache latents;
        final TextConditioning text;
        final DeviceLora lora;
        final SharedWeights unetWeights;
        final LoraOptimizer optimizer;
        final LoraOutputs outputs;
        final TrainingHooks.LiveModel live;
        TrainRng noiseRng;
        StepBuffers buffers;
        long step, applied;
        int skipsInARow;
        double lossScale;

        Loop(RunContext run, LatentCache latents, TextConditioning text, DeviceLora lora, SharedWeights unetWeights,
             LoraOptimizer optimizer, LoraOutputs outputs, TrainingHooks.LiveModel live) {
            this.run = run;
            this.latents = latents;
            this.text = text;
            this.lora = lora;
            this.unetWeights = unetWeights;
            this.optimizer = optimizer;
            this.outputs = outputs;
            this.live = live;
        }

        void run(TrainState resumed) throws Exception {
            TrainConfig c = run.config;
            int firstEpoch = 0;
            long skipInEpoch = 0;
            noiseRng = new TrainRng(c.seed());
            lossScale = run.dtype == DType.F16 ? LossScale.INITIAL : 1.0;
            if (resumed != null) {
                step = resumed.step();
                applied = resumed.schedulerStep();
                firstEpoch = resumed.epoch();
                skipInEpoch = resumed.stepInEpoch();
                lossScale = resumed.lossScale();
                TrainRng.State s = resumed.rngs().get("noise");
                if (s == null) throw new TrainingException(c.resume() + ": the state has no noise RNG");
                noiseRng = TrainRng.restore(s);
            }
            run.progress.start(new ProgressSink.Start(run.epochs, run.totalSteps, step, run.dataset.imagesWithRepeats(), run.device.name()));
            Path last = null;
            List<Path> saved = new ArrayList<>();
            if (resumed == null) run.hooks.beforeFirstStep(live);
            try {
                for (int epoch = firstEpoch; epoch < run.epochs && step < run.totalSteps; epoch++) {
                    List<EpochPlan.Batch> plan = EpochPlan.plan(run.items, c.trainBatchSize(), c.seed(), epoch, c.flipAug());
                    double lossSum = 0;
                    int lossCount = 0;
                    for (int i = (int) (epoch == firstEpoch ? skipInEpoch : 0); i < plan.size() && step < run.totalSteps; i++) {
                        if (run.interrupt.requested()) {
                            Path state = outputs.saveState(outputs.interruptedStateDir(), stateOf(epoch, i));
                            run.progress.saved("state", state);
                            run.progress.message("interrupted: state saved in " + state + "; continue with --resume " + state);
                            return;
                        }
                        double loss = step(plan.get(i), epoch, i);
                        if (Double.isFinite(loss)) {
                            lossSum += loss;
                            lossCount++;
                        }
                    }
                    run.progress.epochEnd(epoch + 1, lossCount > 0 ? lossSum / lossCount : Double.NaN);
                    boolean lastEpoch = epoch + 1 == run.epochs || step >= run.totalSteps;
                    Path savedNow = null;
                    if (lastEpoch || c.saveEveryNEpochs() > 0 && (epoch + 1) % c.saveEveryNEpochs() == 0) {
                        last = savedNow = outputs.saveLora(epoch + 1, step, lastEpoch);
                        saved.add(last);
                        run.progress.saved("lora", last);
                        if (c.saveState()) run.progress.saved("state", outputs.saveState(outputs.stateDir(epoch + 1, lastEpoch), stateOf(epoch + 1, 0)));
                    }
                    if (run.hooks.usesDeviceAfterEpoch(epoch + 1) && buffers != null) {
                        buffers.close();
                        buffers = null;
                    }
                    run.hooks.afterEpoch(epoch + 1, savedNow, live);
                }
            } finally {
                if (buffers != null) buffers.close();
                buffers = null;
            }
            run.hooks.afterTraining(saved, live);
            run.progress.done(step, last);
        }

        TrainState stateOf(int epoch, long stepInEpoch) {
            return TrainStateIo.state(step, epoch, stepInEpoch, applied, lossScale, noiseRng, run.config, lora, optimizer);
        }

        /** One optimizer step on one planned batch; returns the batch's loss (NaN when the step was skipped). */
        double step(EpochPlan.Batch batch, int epoch, int indexInEpoch) {
            TrainConfig c = run.config;
            int b = batch.size(), f = latents.factor(), z = latents.channels();
            int h = batch.bucket().height() / f, w = batch.bucket().width() / f, n = z * h * w;
            if (buffers == null || !buffers.fits(b, h, w)) {
                if (buffers != null) buffers.close();
                buffers = null;
                buffers = new StepBuffers(run.arch.unet(), unetWeights, lora.adapters(Component.UNET), run.device, run.dtype, b, h, w, text.tokens(), c.trainTextEncoder(),
                        new UNetOptions(c.gradientCheckpointing()));
            }
            // x0, noise, t, x_t, target, weights on the host: (B, z, h, w) is 16 K values per 512 px image
            float[] x0 = new float[b * n], noise = new float[b * n], noisy = new float[b * n], target = new float[b * n];
            for (int i = 0; i < b; i++) System.arraycopy(latents.latents(batch.indices()[i], batch.flipped()[i]), 0, x0, i * n, n);
            NoiseSchedule.sampleNoise(noise, b, z, h * w, c.noiseOffset(), noiseRng);
            int[] t = run.schedule.sampleTimesteps(b, 0, run.schedule.timesteps(), noiseRng);
            float[] tf = new float[b], weights = new float[b];
            float[] xs = new float[n], ns = new float[n], out = new float[n];
            for (int i = 0; i < b; i++) {
                System.arraycopy(x0, i * n, xs, 0, n);
                System.arraycopy(noise, i * n, ns, 0, n);
                run.schedule.addNoise(out, xs, ns, t[i]);
                System.arraycopy(out, 0, noisy, i * n, n);
                if (run.vPrediction) run.schedule.velocity(out, xs, ns, t[i]);
                else System.arraycopy(ns, 0, out, 0, n);
                System.arraycopy(out, 0, target, i * n, n);
                tf[i] = t[i];
                weights[i] = c.minSnrGamma() == null ? 1f : (float) run.schedule.minSnrWeight(t[i], c.minSnrGamma(), run.vPrediction);
            }
            StepBuffers s = buffers;
            s.latents.copyFrom(noisy);
            s.target.copyFrom(target);
            s.timesteps.copyFrom(tf);
            s.weights.copyFrom(weights);

            List<String> captions = new ArrayList<>(b);
            Random shuffle = new Random(c.seed() * 31 + step);
            for (int i = 0; i < b; i++) captions.add(Captions.process(run.placed.get(batch.indices()[i]).image().caption(), captionOptions(c), shuffle));
            Tensor context = text.context(captions);

            lora.zeroGradients();
            Tensor pred = s.unet.forward(s.latents, s.timesteps, context);
            LossOps.mseWeighted(s.loss, s.dPred, pred, s.target, s.weights, (float) lossScale);
            if (c.trainTextEncoder()) {
                s.unet.backward(s.dPred, s.dContext);
                text.backward(s.dContext);
            } else {
                s.unet.backward(s.dPred);
            }
            double lr = run.lrSchedule.lr(Math.toIntExact(applied), optimizer.baseLearningRate());
            // the loss first: an overflowing loss can come with finite gradients, and that step must not be applied either
            double loss = s.loss.toFloats()[0];
            boolean ok = Double.isFinite(loss) && optimizer.step(lr, lossScale, applied + 1);
            step++;
            if (ok) {
                applied++;
                skipsInARow = 0;
                lora.castForForward();
                if (run.dtype == DType.F16) lossScale = LossScale.afterGoodStep(lossScale, applied);
            } else {
                skipsInARow++;
                if (run.dtype == DType.F16) lossScale = LossScale.afterOverflow(lossScale);
                if (skipsInARow >= run.maxSkipsInARow) {
                    throw new TrainingException("stopped: " + skipsInARow + " steps in a row had a non-finite loss or gradient (last loss " + loss
                            + (run.dtype == DType.F16 ? ", loss scale " + lossScale : "") + "); try a lower learning rate" + (run.dtype == DType.F16 ? " or --mixed-precision bf16" : ""));
                }
                loss = Double.NaN;
            }
            run.progress.step(new ProgressSink.Step(epoch + 1, step, loss, lr, used(run.device), !ok));
            return loss;
        }
    }
}
