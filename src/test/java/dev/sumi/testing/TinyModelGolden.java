package dev.sumi.testing;

import dev.sumi.model.Checkpoint;
import dev.sumi.model.ModelHashes;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.StoredType;

import java.io.InputStream;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A network golden fixture made by a {@code scripts/golden-*} script from the tiny model
 * ({@code sumi make-model --arch tiny --seed 1 --dtype f32}): the fixture, and that checkpoint
 * regenerated here and proven byte-identical by its sshs hash. Every output {@code x} of the fixture
 * is PyTorch's float64 result; {@code baseline.x} in its metadata is the error of PyTorch's float32 run.
 */
public final class TinyModelGolden implements AutoCloseable {
    public final SafeTensorsFile fixture;
    public final Checkpoint checkpoint;
    private final String label;

    private TinyModelGolden(SafeTensorsFile fixture, Checkpoint checkpoint, String label) {
        this.fixture = fixture;
        this.checkpoint = checkpoint;
        this.label = label;
    }

    /** A fixture whose weights the test builds itself (no tiny checkpoint): {@link #checkpoint} is null. */
    public static TinyModelGolden fixtureOnly(String resource, String label) throws Exception {
        return new TinyModelGolden(SafeTensorsFile.open(Path.of(TinyModelGolden.class.getResource(resource).toURI())), null, label);
    }

    /** Opens {@code resource} (a classpath fixture) and writes the tiny checkpoint into {@code dir}. */
    public static TinyModelGolden open(String resource, Path dir, String script, String label) throws Exception {
        SafeTensorsFile fixture = SafeTensorsFile.open(file(resource, dir));
        Path ckpt = dir.resolve("tiny.safetensors");
        RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 1), 1, StoredType.F32, ckpt, false);
        assertEquals(fixture.metadata().get("sshs_model_hash"), ModelHashes.of(ckpt).sshsModelHash(),
                "the tiny checkpoint is not the one the fixture was made from: rerun " + script);
        return new TinyModelGolden(fixture, Checkpoint.open(ckpt, null), label);
    }

    /**
     * The fixture as a file: the resource itself from a classes folder, a copy in {@code dir} when it lies in a jar
     * (scripts/gpu-check runs the GPU tier from sumi-tests.jar; SafeTensorsFile maps files).
     */
    private static Path file(String resource, Path dir) throws Exception {
        URL url = TinyModelGolden.class.getResource(resource);
        if (url == null) throw new IllegalStateException("no test resource " + resource);
        if (url.getProtocol().equals("file")) return Path.of(url.toURI());
        Path copy = dir.resolve(Path.of(resource).getFileName().toString());
        try (InputStream in = url.openStream()) {
            Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
        }
        return copy;
    }

    /**
     * 2x PyTorch float32's own error plus 4 float ulps of the largest |truth|: the ulps cover the truth's
     * rounding to float32 when stored and a baseline that happens to land near zero.
     *
     * <p>A bias gradient is a sum over rows of d loss / d output; each term is known only to a float rounding
     * of itself, so no order of summation gets closer than u * sum|terms|. Where the fixture records that sum
     * ({@code x.abs_sum.y} beside {@code x.grad.y}, {@code abs_sum.y} beside {@code grad.y}) it is added: a sum that cancels (k_proj's bias gradient is
     * exactly zero, softmax ignoring a shift common to all keys) leaves both float computations only that noise.
     */
    public double budget(String name, float[] truth) {
        double maxAbs = 0;
        for (float v : truth) maxAbs = Math.max(maxAbs, Math.abs(v));
        double floor = 4 * Math.ulp((float) maxAbs);
        String absSum = fixture.metadata().get(name.startsWith("grad.") ? "abs_sum." + name.substring(5) : name.replace(".grad.", ".abs_sum."));
        if (name.endsWith("bias") && absSum != null) floor += Math.ulp(1.0f) / 2 * Double.parseDouble(absSum);
        return 2 * Double.parseDouble(fixture.metadata().get("baseline." + name)) + floor;
    }

    /** Compares {@code got} with the fixture's {@code name}, prints the error and budget, fails beyond it; returns error / budget. */
    public double compare(String name, float[] got) throws Exception {
        float[] truth = fixture.readFloats(name);
        assertEquals(truth.length, got.length, name);
        double err = 0;
        for (int i = 0; i < got.length; i++) err = Math.max(err, Math.abs((double) got[i] - truth[i]));
        double budget = budget(name, truth);
        System.out.printf("%s %-66s max err %.3e, budget %.3e (%.0f%%)%n", label, name, err, budget, 100 * err / budget);
        if (!(err <= budget)) fail(name + ": max error " + err + " exceeds the budget " + budget);
        return err / budget;
    }

    @Override
    public void close() {
        if (checkpoint != null) checkpoint.close();
        fixture.close();
    }
}
