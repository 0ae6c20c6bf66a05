package dev.sumi.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainStateTest {

    @TempDir
    Path dir;

    static TrainState state(long step, float fill) {
        TrainRng rng = new TrainRng(9);
        rng.nextGaussian();   // leaves a spare pending: it must survive the round trip
        Map<String, TrainState.Tensor> lora = new LinkedHashMap<>();
        lora.put("lora_unet_a.lora_down.weight", new TrainState.Tensor(new long[] {2, 3}, new float[] {fill, -0f, Float.MIN_VALUE, 1e30f, -2, 3}));
        lora.put("lora_unet_a.alpha", new TrainState.Tensor(new long[] {}, new float[] {4}));
        Map<String, TrainState.Tensor> opt = Map.of("lora_unet_a.lora_down.weight.exp_avg", new TrainState.Tensor(new long[] {6}, new float[6]));
        Map<String, Object> config = TrainConfigReader.resolve(TrainConfigTest.flags(TrainOption.CONV_DIM, "8")).toMap();
        return new TrainState(step, 3, 7, step, 65536.0, Map.of("noise", rng.state(), "data", new TrainRng(-1).state()), config, lora, opt);
    }

    @Test
    void roundTripIsExact() throws Exception {
        TrainState s = state(123, 0.1f);
        Path d = dir.resolve("state");
        s.save(d);
        TrainState r = TrainState.load(d);
        assertEquals(123, r.step());
        assertEquals(3, r.epoch());
        assertEquals(7, r.stepInEpoch());
        assertEquals(65536.0, r.lossScale());
        assertEquals(s.rngs(), r.rngs());
        TrainRng a = TrainRng.restore(s.rngs().get("noise")), b = TrainRng.restore(r.rngs().get("noise"));
        assertEquals(a.nextGaussian(), b.nextGaussian());
        assertEquals(List.of("lora_unet_a.lora_down.weight", "lora_unet_a.alpha"), List.copyOf(r.lora().keySet()));
        assertArrayEquals(s.lora().get("lora_unet_a.lora_down.weight").data(), r.lora().get("lora_unet_a.lora_down.weight").data());
        assertArrayEquals(new long[] {2, 3}, r.lora().get("lora_unet_a.lora_down.weight").shape());
        // the config read back (JSON numbers, nulls) still matches the run that wrote it, and not another one
        assertEquals(List.of(), TrainConfigReader.resolve(TrainConfigTest.flags(TrainOption.CONV_DIM, "8")).resumeMismatches(r.config()));
        assertEquals(List.of("conv_dim: saved 8, now null", "conv_alpha: saved 1.0, now null"),
                TrainConfigReader.resolve(TrainConfigTest.flags()).resumeMismatches(r.config()));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(d), files.toList());   // no temporary folder left
        }
    }

    @Test
    void aNewSaveReplacesTheOldOneWhole() throws Exception {
        Path d = dir.resolve("state");
        state(1, 1f).save(d);
        state(2, 2f).save(d);
        TrainState r = TrainState.load(d);
        assertEquals(2, r.step());
        assertEquals(2f, r.lora().get("lora_unet_a.lora_down.weight").data()[0]);
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count());
        }
        // a crash between the two renames leaves only the old state, renamed aside: load finds it
        Files.move(d, dir.resolve("state.old-1234"));
        assertEquals(2, TrainState.load(d).step());
    }

    @Test
    void aSaveThatFailsHalfwayLeavesTheOldStateAndNoTemporaryFolder() throws Exception {
        Path d = dir.resolve("state");
        TrainState good = state(1, 1f);
        // the failure comes after both tensor files are written, while state.json is serialised (as a full disk would)
        Map<String, Object> config = new LinkedHashMap<>(good.config());
        config.put("poison", new Object() {
            @Override
            public String toString() {
                throw new IllegalStateException("no space left on device");
            }
        });
        TrainState failing = new TrainState(2, 3, 7, 2, 1.0, good.rngs(), config, good.lora(), good.optimizer());

        assertThrows(IllegalStateException.class, () -> failing.save(d));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(), files.toList(), "a first save that fails leaves nothing");
        }
        good.save(d);
        assertThrows(IllegalStateException.class, () -> failing.save(d));
        assertEquals(1, TrainState.load(d).step(), "the state saved before is intact");
        try (var files = Files.list(dir)) {
            assertEquals(List.of(d), files.toList(), "no temporary folder left");
        }
    }

    @Test
    void corruptOrForeignStatesAreClearErrors() throws Exception {
        Path d = dir.resolve("state");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TrainState.load(d)).getMessage().endsWith(": no saved state there"));
        state(5, 1f).save(d);
        Path json = d.resolve("state.json");
        String good = Files.readString(json);
        Files.writeString(json, good.replace("\"version\":1", "\"version\":2"));
        assertEquals(json + ": state version 2, this sumi reads version 1", assertThrows(IllegalArgumentException.class, () -> TrainState.load(d)).getMessage());
        Files.writeString(json, good.substring(0, good.length() / 2));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TrainState.load(d)).getMessage().startsWith(json + ": corrupt:"));
        Files.writeString(json, good);
        byte[] lora = Files.readAllBytes(d.resolve("lora.safetensors"));
        Files.write(d.resolve("lora.safetensors"), java.util.Arrays.copyOf(lora, lora.length - 4));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TrainState.load(d)).getMessage().startsWith(d.resolve("lora.safetensors") + ": corrupt:"));
        Files.delete(d.resolve("optimizer.safetensors"));
        Files.write(d.resolve("lora.safetensors"), lora);
        assertEquals(d.resolve("optimizer.safetensors") + ": missing from the saved state",
                assertThrows(IllegalArgumentException.class, () -> TrainState.load(d)).getMessage());
    }
}
