package dev.sumi.train;

import dev.sumi.lora.DeviceLora;
import dev.sumi.lora.LoraModule;
import dev.sumi.lora.LoraNetwork;
import dev.sumi.lora.LoraTensors;

import java.util.LinkedHashMap;
import java.util.Map;

/** Between a running training (LoRA on the device, optimizer moments, counters, RNG) and a {@link TrainState}. */
final class TrainStateIo {
    private TrainStateIo() {}

    static TrainState state(long step, int epoch, long stepInEpoch, long applied, double lossScale, TrainRng noise,
                            TrainConfig config, DeviceLora lora, LoraOptimizer optimizer) {
        lora.download();
        Map<String, TrainState.Tensor> tensors = new LinkedHashMap<>();
        for (LoraTensors t : lora.network().export().values()) {
            tensors.put(t.kohyaName() + ".lora_down.weight", new TrainState.Tensor(t.downShape(), t.down()));
            tensors.put(t.kohyaName() + ".lora_up.weight", new TrainState.Tensor(t.upShape(), t.up()));
        }
        return new TrainState(step, epoch, stepInEpoch, applied, lossScale, Map.of("noise", noise.state()), config.toMap(), tensors, optimizer.export());
    }

    /** The state's LoRA tensors as the network's modules (alphas from the network: the config is the same). */
    static Map<String, LoraTensors> loraFrom(TrainState state, LoraNetwork network) {
        Map<String, LoraTensors> out = new LinkedHashMap<>();
        for (LoraModule m : network.modules()) {
            TrainState.Tensor down = state.lora().get(m.kohyaName() + ".lora_down.weight"), up = state.lora().get(m.kohyaName() + ".lora_up.weight");
            if (down == null || up == null) throw new TrainingException("resume: the state has no weights for LoRA module " + m.kohyaName() + " (another network?)");
            out.put(m.kohyaName(), new LoraTensors(m.kohyaName(), down.data(), down.shape(), up.data(), up.shape(), m.alpha()));
        }
        if (state.lora().size() != 2 * out.size()) throw new TrainingException("resume: the state holds " + state.lora().size() / 2 + " LoRA modules, this network " + out.size());
        return out;
    }
}
