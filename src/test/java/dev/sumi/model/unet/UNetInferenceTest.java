package dev.sumi.model.unet;

import dev.sumi.device.Device;
import dev.sumi.device.HostDevice;
import dev.sumi.device.PlanningDevice;
import dev.sumi.lora.Adapters;
import dev.sumi.lora.DeviceLora;
import dev.sumi.lora.LoraModule;
import dev.sumi.lora.LoraNetwork;
import dev.sumi.lora.LoraOptions;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.model.clip.TextEncoder;
import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.nn.ParamSpec;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.sumi.model.unet.UNetCheckpointingTest.B;
import static dev.sumi.model.unet.UNetCheckpointingTest.H;
import static dev.sumi.model.unet.UNetCheckpointingTest.T;
import static dev.sumi.model.unet.UNetCheckpointingTest.W;
import static dev.sumi.model.unet.UNetCheckpointingTest.assertBitEqual;
import static dev.sumi.model.unet.UNetCheckpointingTest.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link UNetOptions#INFERENCE} drops every backward buffer and nothing else: on the tiny UNet, frozen and with LoRA + LoCon on every site, two forwards give the same bits as the
 * CHECKPOINTED and DEFAULT UNets', in F32 and BF16; it allocates strictly less than the CHECKPOINTED UNet (on the
 * host, which counts every allocation, and on a {@link PlanningDevice}); its backward throws. The LoRA + LoCon
 * check also runs on a GPU in the gpu tier.
 */
class UNetInferenceTest {
    static final List<UNetOptions> ALL = List.of(UNetOptions.DEFAULT, UNetOptions.CHECKPOINTED, UNetOptions.INFERENCE);

    @TempDir
    static Path dir;
    static Checkpoint checkpoint;
    static TextEncoderConfig teConfig;
    static UNetConfig config;

    @BeforeAll
    static void setUp() throws Exception {
        Path ckpt = dir.resolve("tiny.safetensors");
        RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 2), 2, StoredType.F32, ckpt, false);
        checkpoint = Checkpoint.open(ckpt, null);
        teConfig = TextEncoderConfig.tiny(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 2).tokenizer().size());
        config = UNetConfig.tiny(teConfig.width());
    }

    @AfterAll
    static void tearDown() {
        if (checkpoint != null) checkpoint.close();
    }

    /** Two forwards' outputs (different latents, timesteps and context each). */
    static List<float[]> forwards(Device device, UNet unet, DType dtype) {
        Random r = new Random(31);
        int width = teConfig.width();
        List<float[]> results = new ArrayList<>();
        for (int step = 0; step < 2; step++) {
            try (Tensor latents = Tensor.fromFloats(device, dtype, random(r, B * 4 * H * W), B, 4, H, W);
                 Tensor timesteps = Tensor.fromFloats(device, DType.F32, new float[] {29 + 300 * step, 870}, B);
                 Tensor context = Tensor.fromFloats(device, dtype, random(r, B * T * width), B, T, width)) {
                results.add(unet.forward(latents, timesteps, context).toFloats());
            }
        }
        return results;
    }

    /**
     * Per option of {@link #ALL}: the forwards' bits, equal; INFERENCE's backward throws; on the host (which counts
     * every allocation exactly) also: INFERENCE allocates less than CHECKPOINTED, and everything is freed.
     */
    static void compare(Device device, DType dtype, Adapters adapters, String what) {
        List<List<float[]>> results = new ArrayList<>();
        List<Long> bytes = new ArrayList<>();
        // the host keeps a scratch buffer that the first attention grows: grow it before counting
        try (UNet unet = UNet.load(checkpoint, config, device, dtype, B, H, W, T, adapters, UNetOptions.INFERENCE)) {
            forwards(device, unet, dtype);
        }
        long before = device.memoryInfo().free();
        for (UNetOptions options : ALL) {
            try (UNet unet = UNet.load(checkpoint, config, device, dtype, B, H, W, T, adapters, options)) {
                bytes.add(before - device.memoryInfo().free());
                results.add(forwards(device, unet, dtype));
                if (options.forwardOnly()) {
                    try (Tensor dOut = Tensor.allocate(device, dtype, B, 4, H, W)) {
                        IllegalStateException e = assertThrows(IllegalStateException.class, () -> unet.backward(dOut));
                        assertTrue(e.getMessage().startsWith("unet: built forward-only"), e.getMessage());
                    }
                }
            }
            if (device instanceof HostDevice) assertEquals(before, device.memoryInfo().free(), what + " " + options + ": everything freed");
        }
        System.out.printf("%s %s %s: UNet default %d, checkpointed %d, inference %d bytes%n", device.name(), dtype, what, bytes.get(0), bytes.get(1), bytes.get(2));
        assertBitEqual(what + " " + dtype + " default vs inference", results.get(0), results.get(2));
        assertBitEqual(what + " " + dtype + " checkpointed vs inference", results.get(1), results.get(2));
        if (device instanceof HostDevice) assertTrue(bytes.get(2) < bytes.get(1), what + " " + dtype + ": inference " + bytes.get(2) + " bytes, checkpointed " + bytes.get(1));
    }

    @Test
    void frozenForwardIsBitEqualAndSmaller() {
        for (DType dtype : new DType[] {DType.F32, DType.BF16}) compare(Devices.host(), dtype, Adapters.FROZEN, "frozen");
    }

    @Test
    void loraAndLoconForwardIsBitEqualAndSmaller() {
        loraAndLocon(Devices.host());
    }

    @Test
    @Tag("gpu")
    void loraAndLoconForwardIsBitEqualOnCuda() {
        loraAndLocon(Devices.cuda());
    }

    static void loraAndLocon(Device device) {
        LoraNetwork net = LoraNetwork.create(new LoraOptions(3, 2, 2, 1, true, false, 1, 7), Lineage.SD1, config, teConfig);
        Random r = new Random(13);
        for (LoraModule m : net.modules()) {   // nonzero ups: the branches change the output
            float[] up = random(r, (int) m.upCount());
            for (int i = 0; i < up.length; i++) up[i] *= 0.2f;
            net.set(m.kohyaName(), net.export().get(m.kohyaName()).down(), up);
        }
        for (DType dtype : new DType[] {DType.F32, DType.BF16}) {
            try (DeviceLora lora = net.upload(device, dtype)) {
                compare(device, dtype, lora.adapters(Component.UNET), "LoRA + LoCon");
            }
        }
    }

    @Test
    void inferenceFormsNoLinearGradients() {
        HostDevice host = Devices.host();
        try (UNet unet = UNet.load(checkpoint, config, host, DType.F32, B, H, W, T,
                Adapters.LINEAR_GRADIENTS, UNetOptions.INFERENCE)) {
            assertTrue(unet.gradients().isEmpty(), "gradients: " + unet.gradients().keySet());
        }
    }

    /** The UNet's bytes beside its parameters, built on a planning device with the parameters in {@code dtype}. */
    static long activationBytes(UNetConfig config, DType dtype, int batch, int h, int w, int tokens, UNetOptions options) {
        try (PlanningDevice d = new PlanningDevice()) {
            Map<String, Tensor> params = new LinkedHashMap<>();
            for (ParamSpec p : UNetLayout.parameters(config)) params.put(p.name(), Tensor.allocate(d, dtype, p.shape()));
            long weights = d.memoryInfo().total() - d.memoryInfo().free();
            try (UNet unet = new UNet(config, params, d, dtype, batch, h, w, tokens, Adapters.FROZEN, options)) {
                return d.memoryInfo().total() - d.memoryInfo().free() - weights;
            }
        }
    }

    @Test
    void plannedInferenceIsSmallerThanCheckpointed() {
        UNetConfig tiny = config;
        long[] t = ALL.stream().mapToLong(o -> activationBytes(tiny, DType.F16, B, H, W, T, o)).toArray();
        System.out.printf("planned tiny UNet activations, F16: default %d, checkpointed %d, inference %d bytes%n", t[0], t[1], t[2]);
        assertTrue(t[2] < t[1] && t[1] < t[0], "default " + t[0] + ", checkpointed " + t[1] + ", inference " + t[2]);
        // SD1.5 at 512 px with classifier-free guidance (2 rows), F16, as the generator builds it
        long[] s = ALL.stream().mapToLong(o -> activationBytes(UNetConfig.sd1(), DType.F16, 2, 64, 64, TextEncoder.TOKENS, o)).toArray();
        System.out.printf("planned SD1.5 UNet activations, 2 x 64x64 latents, F16: default %.1f, checkpointed %.1f, inference %.1f MiB%n",
                s[0] / 1048576.0, s[1] / 1048576.0, s[2] / 1048576.0);
        assertTrue(s[2] < s[1] && s[1] < s[0], "default " + s[0] + ", checkpointed " + s[1] + ", inference " + s[2]);
    }
}
