package dev.sumi.plan;

import dev.sumi.device.HostDevice;
import dev.sumi.lora.DeviceLora;
import dev.sumi.lora.LoraNetwork;
import dev.sumi.lora.LoraOptions;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.ModelArchitecture;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.model.clip.TextEncoder;
import dev.sumi.model.unet.UNet;
import dev.sumi.model.unet.UNetOptions;
import dev.sumi.model.vae.Vae;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.testing.Devices;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The plan's counted parts equal what the host device really allocates for the same networks. */
class PlanMemoryTest {

    @TempDir
    static Path dir;
    static Path model;

    @BeforeAll
    static void tinyModel() throws Exception {
        model = dir.resolve("tiny.safetensors");
        RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 5), 5, StoredType.F32, model, false);
    }

    static long part(MemoryPlan.Phase phase, String category) {
        return phase.parts().stream().filter(p -> p.category().equals(category)).mapToLong(MemoryPlan.Part::bytes).findFirst()
                .orElseThrow(() -> new AssertionError("no part " + category + " in " + phase));
    }

    static long partStarting(MemoryPlan.Phase phase, String prefix) {
        return phase.parts().stream().filter(p -> p.category().startsWith(prefix)).mapToLong(MemoryPlan.Part::bytes).findFirst()
                .orElseThrow(() -> new AssertionError("no part " + prefix + "... in " + phase));
    }

    @Test
    void plannedUNetTextEncoderLoraAndVaeBytesEqualTheHostDevicesAllocations() throws Exception {
        HostDevice host = Devices.host();
        int batch = 2, px = 64;
        LoraOptions options = LoraOptions.of(4, 4, 0).withConv(2, 2);
        for (DType dtype : new DType[] {DType.F32, DType.BF16}) {
            try (Checkpoint ck = Checkpoint.open(model, null)) {
                ModelArchitecture arch = ck.architecture();
                MemoryPlan plan = MemoryPlan.of(arch, dtype, batch, px, px, options);
                MemoryPlan.Phase step = plan.phase(MemoryPlan.TRAINING);
                int f = arch.vae().downscale();
                var te = arch.textEncoders().getFirst();

                long before = host.memoryInfo().free();
                try (DeviceLora lora = LoraNetwork.create(options, arch.lineage(), arch.unet(), te.config()).upload(host, dtype)) {
                    long loraBytes = before - host.memoryInfo().free();
                    assertEquals(loraBytes, partStarting(step, "LoRA weights and gradients"), dtype + ": LoRA");
                    try (UNet unet = UNet.load(ck, arch.unet(), host, dtype, batch, px / f, px / f, TextEncoder.TOKENS, lora.adapters(Component.UNET))) {
                        long real = before - host.memoryInfo().free() - loraBytes;
                        assertEquals(real, part(step, "UNet weights") + part(step, "UNet activations & scratch"), dtype + ": UNet");
                        assertTrue(unet.gradients().isEmpty());
                    }
                    try (TextEncoder enc = TextEncoder.load(ck, te.component().prefix, te.config(), host, dtype, batch, lora.adapters(Component.TEXT_ENCODER))) {
                        long real = before - host.memoryInfo().free() - loraBytes;
                        assertEquals(real, part(step, "text encoder weights") + part(step, "text encoder activations & scratch"), dtype + ": text encoder");
                    }
                }
                assertEquals(before, host.memoryInfo().free());

                try (Vae vae = Vae.load(ck, arch.vae(), host, dtype, batch, px, px)) {
                    long real = before - host.memoryInfo().free();
                    assertEquals(real, plan.phase(MemoryPlan.LATENT_CACHING).peak(), dtype + ": VAE");
                }
            }
        }
    }

    @Test
    void theStepPeakIsEveryPartAndOnlyTheOptimizerStateIsComputed() throws Exception {
        try (Checkpoint ck = Checkpoint.open(model, null)) {
            MemoryPlan plan = MemoryPlan.of(ck.architecture(), DType.BF16, 1, 64, 64, 8);
            MemoryPlan.Phase step = plan.phase(MemoryPlan.TRAINING);
            assertEquals(step.peak(), step.parts().stream().mapToLong(MemoryPlan.Part::bytes).sum());
            for (MemoryPlan.Part p : step.parts()) {
                assertTrue(p.bytes() > 0, p.toString());
                assertEquals(!p.category().equals(MemoryPlan.ADAMW_MOMENTS), p.exact(), p.toString());
                assertFalse(p.category().contains("weight gradients"), "LoRA training forms no Linear weight gradients: " + p);
            }
            assertEquals(Math.max(step.peak(), plan.phase(MemoryPlan.LATENT_CACHING).peak()), plan.peak());
            // rank scales the LoRA lines and the adapted layers' saved projections, not the weights
            MemoryPlan r16 = MemoryPlan.of(ck.architecture(), DType.BF16, 1, 64, 64, 16);
            assertEquals(part(step, "UNet weights"), part(r16.phase(MemoryPlan.TRAINING), "UNet weights"));
            assertTrue(part(r16.phase(MemoryPlan.TRAINING), MemoryPlan.ADAMW_MOMENTS) > part(step, MemoryPlan.ADAMW_MOMENTS));
            // LoCon adds modules (and their scratch)
            MemoryPlan locon = MemoryPlan.of(ck.architecture(), DType.BF16, 1, 64, 64, LoraOptions.of(8, 8, 0).withConv(4, 4));
            assertTrue(locon.phase(MemoryPlan.TRAINING).peak() > step.peak());
        }
    }

    @Test
    void aCheckpointedUNetIsPlannedAsAllocatedAndSmaller() throws Exception {
        HostDevice host = Devices.host();
        int batch = 2, px = 64;
        LoraOptions options = LoraOptions.of(4, 4, 0).withConv(2, 2);
        try (Checkpoint ck = Checkpoint.open(model, null)) {
            ModelArchitecture arch = ck.architecture();
            MemoryPlan kept = MemoryPlan.of(arch, DType.BF16, batch, px, px, options);
            MemoryPlan checkpointed = MemoryPlan.of(arch, DType.BF16, batch, px, px, options, UNetOptions.CHECKPOINTED);
            assertTrue(checkpointed.gradientCheckpointing());
            MemoryPlan.Phase step = checkpointed.phase(MemoryPlan.TRAINING);
            int f = arch.vae().downscale();
            try (DeviceLora lora = LoraNetwork.create(options, arch.lineage(), arch.unet(), arch.textEncoders().getFirst().config()).upload(host, DType.BF16)) {
                long before = host.memoryInfo().free();
                try (UNet unet = UNet.load(ck, arch.unet(), host, DType.BF16, batch, px / f, px / f, TextEncoder.TOKENS, lora.adapters(Component.UNET),
                        UNetOptions.CHECKPOINTED)) {
                    assertEquals(before - host.memoryInfo().free(), part(step, "UNet weights") + part(step, "UNet activations & scratch"));
                }
            }
            long keptActivations = part(kept.phase(MemoryPlan.TRAINING), "UNet activations & scratch");
            assertTrue(part(step, "UNet activations & scratch") < keptActivations, part(step, "UNet activations & scratch") + " vs " + keptActivations);
            assertEquals(kept.phase(MemoryPlan.TRAINING).peak() - keptActivations, step.peak() - part(step, "UNet activations & scratch"),
                    "only the UNet's activations change");
        }
    }
}
