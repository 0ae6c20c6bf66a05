package dev.sumi.lora;

import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.unet.UNet;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.testing.Devices;
import dev.sumi.testing.TinyModelGolden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The tiny UNet with kohya's LoRA + LoCon modules against diffusers with the same modules as forward
 * hooks (fixture by scripts/golden-lora): the output and the down / up gradients of one module of every
 * site kind, F32 on the host, within {@link TinyModelGolden#budget} (2x PyTorch float32's own error plus
 * 4 ulps of the largest |truth|).
 */
class LoraGoldenTest {
    static final int B = 1, H = 8, W = 8, T = 8, CONTEXT = 64;

    @TempDir
    Path dir;

    /** The fixture's values: down[i] = 0.3 sin(0.37 i + 0.11 L), up[i] = 0.2 cos(0.53 i + 0.07 L), L = len(name). */
    static float[] values(long n, String name, double amplitude, double freq, double phase, boolean sine) {
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            double a = freq * i + phase * name.length();
            v[i] = (float) (amplitude * (sine ? Math.sin(a) : Math.cos(a)));
        }
        return v;
    }

    @Test
    void matchesDiffusersWithKohyaModules() throws Exception {
        var host = Devices.host();
        try (TinyModelGolden golden = TinyModelGolden.open("/golden/lora_unet_tiny.safetensors", dir, "scripts/golden-lora", "lora")) {
            var meta = golden.fixture.metadata();
            LoraOptions o = new LoraOptions(Integer.parseInt(meta.get("dim")), Float.parseFloat(meta.get("alpha")), Integer.parseInt(meta.get("conv_dim")),
                    Float.parseFloat(meta.get("conv_alpha")), true, false, 1f, 0);
            UNetConfig config = UNetConfig.tiny(CONTEXT);
            LoraNetwork net = LoraNetwork.create(o, Lineage.SD1, config, TextEncoderConfig.tiny(1000));
            assertEquals(Integer.parseInt(meta.get("modules")), net.modules().size(), "kohya's module count on the diffusers model");
            for (LoraModule m : net.modules()) {
                net.set(m.kohyaName(), values(m.downCount(), m.kohyaName(), 0.3, 0.37, 0.11, true), values(m.upCount(), m.kohyaName(), 0.2, 0.53, 0.07, false));
            }
            var f = golden.fixture;
            try (DeviceLora lora = net.upload(host, DType.F32);
                 UNet unet = UNet.load(golden.checkpoint, config, host, DType.F32, B, H, W, T, lora.adapters(Component.UNET));
                 Tensor latents = Tensor.fromFloats(host, DType.F32, f.readFloats("latents"), B, 4, H, W);
                 Tensor timesteps = Tensor.fromFloats(host, DType.F32, f.readFloats("timesteps"), B);
                 Tensor context = Tensor.fromFloats(host, DType.F32, f.readFloats("context"), B, T, CONTEXT);
                 Tensor dOut = Tensor.fromFloats(host, DType.F32, f.readFloats("dout"), B, 4, H, W)) {
                golden.compare("out", unet.forward(latents, timesteps, context).toFloats());
                unet.backward(dOut);
                int compared = 0;
                for (LoraModule m : net.modules()) {
                    String name = "grad." + m.kohyaName();
                    if (!f.contains(name + ".down")) continue;
                    LoraAdapter a = lora.adapter(m.kohyaName());
                    golden.compare(name + ".down", a.gradDown().toFloats());
                    golden.compare(name + ".up", a.gradUpMatrix().toFloats());
                    compared++;
                }
                assertEquals(10, compared, "modules compared");
            }
        }
    }
}
