package dev.sumi.bench;

import dev.sumi.device.Device;
import dev.sumi.device.HostDevice;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.sample.SamplerKind;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.safetensors.Json;
import dev.sumi.util.JsonOut;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The generation benchmark end to end on the tiny random model at 32 px, two Euler a steps with guidance (a few seconds). */
class GenerateBenchTest {

    @TempDir
    Path work;

    @Test
    void timesEveryPartReportsFiniteImagesAndPrintsParsableJson() throws Exception {
        Path model = GenerateBench.writeRandom(RandomCheckpoint.Arch.TINY, GenerateBench.newFolder(work));
        assertTrue(Files.isRegularFile(model));
        var config = new GenerateBench.Config(SamplerKind.EULER_A, 32, 2, 7, 1, DType.F32, 0, 1, 1);
        try (Device device = HostDevice.open()) {
            GenerateBench.Result r = GenerateBench.run(model, "random tiny", GenerateBench.tokenizer(model, null), "beside the model", device,
                    config, m -> {});
            assertTrue(r.finite());
            assertEquals(DType.F32, r.vaeDtype());
            for (double s : new double[] {r.loadSeconds(), r.textEncodeSeconds(), r.samplingSeconds(), r.decodeSeconds()}) {
                assertTrue(s > 0 && s < 120, "a time of " + s + " s");
            }
            // one image per rep: its time is the three parts together
            double parts = r.textEncodeSeconds() + r.samplingSeconds() + r.decodeSeconds();
            assertEquals(parts, r.secondsPerImage(), 0.05 * parts);
            assertTrue(r.deviceMemoryBytes() > 0, "the model's weights are in device memory");

            Map<?, ?> json = (Map<?, ?>) Json.parse(JsonOut.write(GenerateBench.json(r, config, device)));
            for (String key : List.of("tool", "device", "model", "dtype", "resolution", "steps", "sampler", "cfg_scale", "batch", "reps",
                    "it_per_second", "seconds_per_image", "sampling_seconds", "text_encode_seconds", "vae_decode_seconds",
                    "device_memory_bytes", "finite")) {
                assertTrue(json.containsKey(key), "JSON key " + key);
            }
            assertEquals("sumi", json.get("tool"));
            assertEquals("euler_a", json.get("sampler"));
            assertEquals(Boolean.TRUE, json.get("finite"));
            double itPerSecond = Double.parseDouble(((Json.Num) json.get("it_per_second")).text());
            assertEquals(2 / r.samplingSeconds(), itPerSecond, 1e-9 * itPerSecond);
            assertFalse(GenerateBench.describe(r, config, device).contains("NOT FINITE"));
        }
        GenerateBench.deleteTree(model.getParent());
        assertFalse(Files.exists(model.getParent()));
    }

    @Test
    void theMedianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
        assertEquals(2.5, GenerateBench.median(new double[] {4, 1, 3, 2}));
        assertEquals(3, GenerateBench.median(new double[] {5, 3, 1}));
    }
}
