package dev.sumi.train;

import dev.sumi.lora.DeviceLora;
import dev.sumi.lora.LoraModule;
import dev.sumi.lora.LoraNetwork;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.ops.OptimizerOps;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW or Lion over every LoRA master weight in one launch ({@link OptimizerOps}), with kohya's two learning
 * rates: the base rate is the larger of the trained components' rates and each tensor carries its component's
 * share of it as lrScale, so one scheduled rate drives both. Moments are F32 tensors beside the masters.
 */
final class LoraOptimizer implements AutoCloseable {
    private final TrainConfig.Optimizer hyper;
    private final double baseLr, maxGradNorm;
    private final List<String> names = new ArrayList<>();   // "<kohya>.lora_down.weight", in parameter order
    private final List<Tensor> m = new ArrayList<>(), v = new ArrayList<>();
    private final OptimizerOps.ParamSet set;

    LoraOptimizer(TrainConfig config, DeviceLora lora, LoraNetwork network) {
        this.hyper = config.optimizer();
        this.maxGradNorm = config.maxGradNorm();
        double unetLr = config.trainUnet() ? config.unetLr() : 0, teLr = config.trainTextEncoder() ? config.textEncoderLr() : 0;
        this.baseLr = Math.max(unetLr, teLr);
        List<Tensor> params = lora.parameters(), grads = lora.gradients();
        List<LoraModule> modules = network.modules();
        if (params.size() != 2 * modules.size()) throw new IllegalStateException("optimizer: " + params.size() + " tensors for " + modules.size() + " modules");
        List<OptimizerOps.Slot> slots = new ArrayList<>();
        try {
            for (int i = 0; i < params.size(); i++) {
                LoraModule module = modules.get(i / 2);
                names.add(module.kohyaName() + (i % 2 == 0 ? ".lora_down.weight" : ".lora_up.weight"));
                Tensor p = params.get(i);
                Tensor mi = zeros(p), vi = hyper.type() == TrainConfig.Optimizer.Type.ADAMW ? zeros(p) : null;
                m.add(mi);
                if (vi != null) v.add(vi);
                double lr = module.component() == Component.TEXT_ENCODER ? teLr : unetLr;
                slots.add(new OptimizerOps.Slot(p, grads.get(i), mi, vi, (float) (baseLr > 0 ? lr / baseLr : 0), (float) hyper.weightDecay()));
            }
            this.set = OptimizerOps.ParamSet.create(slots);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    private static Tensor zeros(Tensor like) {
        Tensor t = Tensor.allocate(like.device(), DType.F32, like.shape().dims());
        dev.sumi.ops.BasicOps.fill(t, 0f);
        return t;
    }

    /** The rate the schedule scales (the larger of the trained components' rates). */
    double baseLearningRate() {
        return baseLr;
    }

    /**
     * Gradient norm, then the update at rate {@code lr} (step t counts applied updates from 1, AdamW's bias
     * correction) with gradients unscaled by {@code lossScale} and clipped to max_grad_norm. Returns false, and
     * changes nothing, when a gradient was not finite.
     */
    boolean step(double lr, double lossScale, long t) {
        float inv = (float) (1.0 / lossScale);
        OptimizerOps.gradNorm(set, inv);
        if (set.readNonFinite()) return false;
        float clip = (float) maxGradNorm;
        if (hyper.type() == TrainConfig.Optimizer.Type.ADAMW) {
            OptimizerOps.adamw(set, new OptimizerOps.AdamW(lr, hyper.beta1(), hyper.beta2(), hyper.eps()), Math.toIntExact(t), inv, clip);
        } else {
            OptimizerOps.lion(set, new OptimizerOps.Lion(lr, hyper.beta1(), hyper.beta2()), inv, clip);
        }
        return true;
    }

    /** Moments by name ("&lt;param&gt;.exp_avg", "&lt;param&gt;.exp_avg_sq"; Lion: exp_avg only), as host copies for a state. */
    Map<String, TrainState.Tensor> export() {
        Map<String, TrainState.Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            out.put(names.get(i) + ".exp_avg", new TrainState.Tensor(m.get(i).shape().dims(), m.get(i).toFloats()));
            if (!v.isEmpty()) out.put(names.get(i) + ".exp_avg_sq", new TrainState.Tensor(v.get(i).shape().dims(), v.get(i).toFloats()));
        }
        return out;
    }

    /** Loads the moments of a saved state; every moment of this optimizer must be there with its shape. */
    void restore(TrainState state) {
        for (int i = 0; i < names.size(); i++) {
            load(state, names.get(i) + ".exp_avg", m.get(i));
            if (!v.isEmpty()) load(state, names.get(i) + ".exp_avg_sq", v.get(i));
        }
    }

    private static void load(TrainState state, String name, Tensor into) {
        TrainState.Tensor t = state.optimizer().get(name);
        if (t == null) throw new TrainingException("resume: the state has no optimizer tensor " + name + " (another optimizer or network?)");
        if (t.data().length != into.numel()) throw new TrainingException("resume: optimizer tensor " + name + " has " + t.data().length + " values, expected " + into.numel());
        into.copyFrom(t.data());
    }

    @Override
    public void close() {
        if (set != null) set.close();
        m.forEach(Tensor::close);
        v.forEach(Tensor::close);
    }
}
