package dev.sumi.plan;

import dev.sumi.device.HostDevice;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.ModelArchitecture;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.model.clip.TextEncoder;
import dev.sumi.model.unet.UNet;
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

    @Test
    void plannedUNetTextEncoderAndVaeBytesEqualTheHostDevicesAllocations() throws Exception {
        HostDevice host = Devices.host();
        int batch = 2, px = 64;
        for (DType dtype : new DType[] {DType.F32, DType.BF16}) {
            try (Checkpoint ck = Checkpoint.open(model, null)) {
                ModelArchitecture arch = ck.architecture();
                MemoryPlan plan = MemoryPlan.of(arch, dtype, batch, px, px, 4);
                MemoryPlan.Phase step = plan.phase(MemoryPlan.TRAINING);
                int f = arch.vae().downscale();

                long before = host.memoryInfo().free();
                try (UNet unet = UNet.load(ck, arch.unet(), host, dtype, batch, px / f, px / f, TextEncoder.TOKENS)) {
                    long real = before - host.memoryInfo().free();
                    long planned = part(step, "UNet weights") + part(step, "UNet activations & scratch") + part(step, "UNet weight gradients (F32)");
                    assertEquals(real, planned, dtype + ": UNet");
                }
                assertEquals(before, host.memoryInfo().free());

                var te = arch.textEncoders().getFirst();
                try (TextEncoder enc = TextEncoder.load(ck, te.component().prefix, te.config(), host, dtype, batch)) {
                    long real = before - host.memoryInfo().free();
                    long planned = part(step, "text encoder weights") + part(step, "text encoder activations & scratch")
                            + part(step, "text encoder weight gradients (F32)");
                    assertEquals(real, planned, dtype + ": text encoder");
                }

                try (Vae vae = Vae.load(ck, arch.vae(), host, dtype, batch, px, px)) {
                    long real = before - host.memoryInfo().free();
                    assertEquals(real, plan.phase(MemoryPlan.LATENT_CACHING).peak(), dtype + ": VAE");
                }
            }
        }
    }

    @Test
    void theStepPeakIsEveryPartAndLoraIsTheOnlyEstimate() throws Exception {
        try (Checkpoint ck = Checkpoint.open(model, null)) {
            MemoryPlan plan = MemoryPlan.of(ck.architecture(), DType.BF16, 1, 64, 64, 8);
            MemoryPlan.Phase step = plan.phase(MemoryPlan.TRAINING);
            assertEquals(step.peak(), step.parts().stream().mapToLong(MemoryPlan.Part::bytes).sum());
            for (MemoryPlan.Part p : step.parts()) {
                assertTrue(p.bytes() > 0, p.toString());
                assertEquals(!p.category().startsWith("LoRA"), p.exact(), p.toString());
            }
            long loraWeights = step.parts().stream().filter(p -> p.category().startsWith("LoRA weights")).findFirst().orElseThrow().bytes();
            assertEquals(loraWeights * 2, part(step, "LoRA AdamW moments (2 x F32)"));
            assertEquals(Math.max(step.peak(), plan.phase(MemoryPlan.LATENT_CACHING).peak()), plan.peak());
            // rank scales the LoRA lines and nothing else
            MemoryPlan r16 = MemoryPlan.of(ck.architecture(), DType.BF16, 1, 64, 64, 16);
            assertEquals(part(step, "UNet weights"), part(r16.phase(MemoryPlan.TRAINING), "UNet weights"));
            assertFalse(step.peak() == r16.phase(MemoryPlan.TRAINING).peak());
        }
    }

    @Test
    void loraTargetsAreKohyasModules() {
        var unet = MemoryPlan.loraTargets(dev.sumi.model.unet.UNetLayout.parameters(dev.sumi.model.unet.UNetConfig.sd1()), true);
        // SD 1.5: 16 transformers, each proj_in, proj_out and one block of 2 x 4 attention + 2 ff Linears
        assertEquals(16 * (2 + 10), unet.size());
        var te = MemoryPlan.loraTargets(dev.sumi.model.clip.TextEncoderLayout.parameters(dev.sumi.model.clip.TextEncoderConfig.clipL()), false);
        assertEquals(12 * 6, te.size());
    }
}
