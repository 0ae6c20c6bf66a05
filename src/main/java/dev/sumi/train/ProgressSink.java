package dev.sumi.train;

import java.nio.file.Path;

/** What a training loop reports, in order: start, steps and epoch ends (with saves and samples), then done or error. */
public interface ProgressSink {

    /** epochs: planned epochs; totalSteps: planned optimizer steps; firstStep: 0, or the step a resumed run starts after. */
    record Start(int epochs, long totalSteps, long firstStep, int imagesPerEpoch, String device) {}

    /**
     * One optimizer step. step counts from 1; loss is this step's mean loss (NaN when the loop did not read it back),
     * lr the UNet rate used; deviceMemory the bytes in use on the device (-1: unknown); skipped: a non-finite step.
     */
    record Step(int epoch, long step, double loss, double lr, long deviceMemory, boolean skipped) {}

    void start(Start start);

    void step(Step step);

    /** meanLoss: the epoch's mean of the losses read back. */
    void epochEnd(int epoch, double meanLoss);

    /** A LoRA file (kind "lora") or a state folder (kind "state") was written. */
    void saved(String kind, Path path);

    void sample(Path image);

    void done(long steps, Path lastFile);

    void error(String message);

    /** A line of information (the dataset check's report, what the loop is doing before the first step). */
    void message(String text);
}
