package dev.sumi.cli;

import dev.sumi.model.RandomCheckpoint;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.util.Bytes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** Writes a complete single-file checkpoint with random weights (benchmarks, tests, the demo's tiny model). */
@Command(name = "make-model", description = "Write a random-weight checkpoint of a standard or the tiny architecture.")
public final class MakeModelCommand implements Callable<Integer> {

    public enum Arch { sd15, sd21, sdxl, tiny }

    public enum Dtype { f16, bf16, f32 }

    @Option(names = "--arch", required = true, description = "sd15, sd21, sdxl or tiny.")
    Arch arch;

    @Option(names = "--seed", defaultValue = "0", description = "Random seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--dtype", defaultValue = "f16", description = "f16, bf16 or f32 (default ${DEFAULT-VALUE}).")
    Dtype dtype;

    @Option(names = "--out", required = true, description = "The .safetensors file to write.")
    Path out;

    @Option(names = "--force", description = "Replace an existing file.")
    boolean force;

    @Override
    public Integer call() throws Exception {
        if (!out.getFileName().toString().endsWith(".safetensors")) {
            throw new IllegalArgumentException("--out " + out + ": the file name must end in .safetensors");
        }
        if (Files.exists(out) && !force) throw new IllegalArgumentException(out + ": exists (use --force to overwrite)");
        RandomCheckpoint.Plan plan = RandomCheckpoint.plan(RandomCheckpoint.Arch.valueOf(arch.name().toUpperCase(Locale.ROOT)), seed);
        StoredType type = switch (dtype) {
            case f16 -> StoredType.F16;
            case bf16 -> StoredType.BF16;
            case f32 -> StoredType.F32;
        };
        System.out.printf(Locale.ROOT, "writing %s: %s, %,d parameters in %d tensors, %s, seed %d%n", out, arch,
                plan.parameters(), plan.entries().size(), dtype, seed);
        long t0 = System.nanoTime();
        RandomCheckpoint.write(plan, seed, type, out, force);
        System.out.printf(Locale.ROOT, "done in %.1f s: %s%n", (System.nanoTime() - t0) / 1e9, Bytes.human(Files.size(out)));
        if (plan.tokenizer() != null) {
            System.out.println("tokenizer (" + plan.tokenizer().size() + " tokens): " + RandomCheckpoint.tokenizerDir(out));
        }
        return 0;
    }
}
