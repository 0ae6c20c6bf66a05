package dev.sumi.model;

import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.model.clip.TokenizerBuilder;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNetLayout;
import dev.sumi.model.vae.VaeConfig;
import dev.sumi.model.vae.VaeLayout;
import dev.sumi.nn.ParamSpec;
import dev.sumi.tensor.safetensors.SafeTensorsWriter;
import dev.sumi.tensor.safetensors.StoredConvert;
import dev.sumi.tensor.safetensors.StoredType;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Complete single-file checkpoints with random weights, initialised as the reference
 * implementations do: what the GPU benchmarks use (no real weights can be downloaded here) and,
 * at toy width, the embedded model of {@code sumi demo} and the end-to-end tests. The file goes
 * through exactly the loader a real checkpoint does.
 *
 * <p>Values depend only on the seed and each tensor's name, never on write order or thread count.
 */
public final class RandomCheckpoint {
    private RandomCheckpoint() {}

    public enum Arch { SD15, SD21, SDXL, TINY }

    /** Merges of the tiny model's tokenizer: a vocabulary of about a thousand tokens. */
    public static final int TINY_MERGES = 500;

    /** One tensor of the file: its full LDM name and how to make it. */
    record Entry(String name, ParamSpec spec) {}

    public record Plan(Arch arch, ModelArchitecture.Lineage lineage, List<Entry> entries, Map<String, String> metadata,
                       TokenizerBuilder.Bpe tokenizer) {
        public long parameters() {
            return entries.stream().mapToLong(e -> e.spec().numel()).sum();
        }
    }

    public static Plan plan(Arch arch, long seed) {
        List<Entry> entries = new ArrayList<>();
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("sumi.arch", arch.name().toLowerCase(Locale.ROOT));
        meta.put("sumi.seed", Long.toString(seed));
        TokenizerBuilder.Bpe bpe = null;
        ModelArchitecture.Lineage lineage;
        switch (arch) {
            case SD15 -> {
                lineage = ModelArchitecture.Lineage.SD1;
                add(entries, LdmComponent.UNET, UNetLayout.parameters(UNetConfig.sd1()));
                add(entries, LdmComponent.VAE, VaeLayout.parameters(VaeConfig.sd()));
                add(entries, LdmComponent.TEXT_ENCODER_CLIP, TextEncoderLayout.parameters(TextEncoderConfig.clipL()));
                meta.put("modelspec.architecture", "stable-diffusion-v1");
            }
            case SD21 -> {
                lineage = ModelArchitecture.Lineage.SD2;
                add(entries, LdmComponent.UNET, UNetLayout.parameters(UNetConfig.sd2()));
                add(entries, LdmComponent.VAE, VaeLayout.parameters(VaeConfig.sd()));
                add(entries, LdmComponent.TEXT_ENCODER_OPENCLIP, TextEncoderLayout.parameters(TextEncoderConfig.openClipH()));
                meta.put("modelspec.architecture", "stable-diffusion-v2-512");
            }
            case SDXL -> {
                lineage = ModelArchitecture.Lineage.SDXL;
                add(entries, LdmComponent.UNET, UNetLayout.parameters(UNetConfig.sdxl()));
                add(entries, LdmComponent.VAE, VaeLayout.parameters(VaeConfig.sdxl()));
                add(entries, LdmComponent.SDXL_TEXT_ENCODER_1, TextEncoderLayout.parameters(TextEncoderConfig.clipL()));
                add(entries, LdmComponent.SDXL_TEXT_ENCODER_2, TextEncoderLayout.parameters(TextEncoderConfig.openClipBigG()));
                meta.put("modelspec.architecture", "stable-diffusion-xl-v1-base");
            }
            case TINY -> {
                lineage = ModelArchitecture.Lineage.SD1;
                bpe = TokenizerBuilder.tiny(TINY_MERGES);
                TextEncoderConfig te = TextEncoderConfig.tiny(bpe.size());
                UNetConfig unet = UNetConfig.tiny(te.width());
                add(entries, LdmComponent.UNET, UNetLayout.parameters(unet));
                add(entries, LdmComponent.VAE, VaeLayout.parameters(VaeConfig.tiny()));
                add(entries, LdmComponent.TEXT_ENCODER_CLIP, TextEncoderLayout.parameters(te));
                meta.put("sumi.unet.heads", Integer.toString(unet.numHeads()));
                meta.put("sumi.text_encoder.heads", Integer.toString(te.heads()));
            }
            default -> throw new AssertionError(arch);
        }
        meta.put("modelspec.sai_model_spec", "1.0.0");
        meta.put("modelspec.title", "sumi random " + arch.name().toLowerCase(Locale.ROOT) + " (seed " + seed + ")");
        return new Plan(arch, lineage, entries, meta, bpe);
    }

    private static void add(List<Entry> entries, LdmComponent c, List<ParamSpec> params) {
        for (ParamSpec p : params) entries.add(new Entry(c.prefix + p.name(), p));
    }

    /**
     * Writes the checkpoint (and, for the tiny model, its tokenizer in {@code <name>.tokenizer/} next to it).
     * The file is written atomically; an existing file is replaced only with {@code overwrite}.
     */
    public static void write(Plan plan, long seed, StoredType dtype, Path out, boolean overwrite) throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        plan.metadata().forEach(w::metadata);
        for (Entry e : plan.entries()) {
            long tensorSeed = mix(seed, e.name());
            w.add(e.name(), dtype, e.spec().shape(), dst -> fill(dst, dtype, e.spec(), tensorSeed));
        }
        // real SD 1.x / SDXL files carry CLIP's position_ids buffer; loaders must skip it, so make-model writes it too
        for (Entry e : plan.entries()) {
            if (e.name().endsWith("text_model.embeddings.position_embedding.weight")) {
                String name = e.name().replace("position_embedding.weight", "position_ids");
                long positions = e.spec().shape()[0];
                w.add(name, StoredType.I64, new long[] {1, positions}, dst -> {
                    for (long i = 0; i < positions; i++) dst.setAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i, i);
                });
            }
        }
        for (Entry e : plan.entries()) {
            if (e.name().endsWith(".model.text_projection")) {   // OpenCLIP files carry CLIP's logit scale, ln(1 / 0.07)
                w.addFloats(e.name().replace("text_projection", "logit_scale"), StoredType.F32, new long[0], new float[] {(float) Math.log(1 / 0.07)});
            }
        }
        w.write(out, overwrite);
        if (plan.tokenizer() != null) TokenizerBuilder.write(plan.tokenizer(), tokenizerDir(out));
    }

    /** Where the tokenizer of a single-file checkpoint lives: {@code model.safetensors} -> {@code model.tokenizer/}. */
    public static Path tokenizerDir(Path checkpoint) {
        String name = checkpoint.getFileName().toString();
        String stem = name.endsWith(".safetensors") ? name.substring(0, name.length() - ".safetensors".length()) : name;
        return checkpoint.resolveSibling(stem + ".tokenizer");
    }

    private static final int CHUNK = 1 << 20;

    /** Draws the tensor in chunks of 2^20 elements, each from its own stream, in parallel. */
    static void fill(MemorySegment dst, StoredType dtype, ParamSpec spec, long tensorSeed) {
        long n = spec.numel();
        int chunks = (int) ((n + CHUNK - 1) / CHUNK);
        float[][] values = new float[chunks][];
        IntStream.range(0, chunks).parallel().forEach(c -> {
            int len = (int) Math.min(CHUNK, n - (long) c * CHUNK);
            float[] v = new float[len];
            SplittableRandom r = new SplittableRandom(tensorSeed + 0x9E3779B97F4A7C15L * (c + 1));
            switch (spec.init()) {
                case ParamSpec.Init.Uniform u -> { for (int i = 0; i < len; i++) v[i] = (float) ((r.nextDouble() * 2 - 1) * u.bound()); }
                case ParamSpec.Init.Normal g -> { for (int i = 0; i < len; i++) v[i] = (float) (r.nextGaussian() * g.std()); }
                case ParamSpec.Init.Constant k -> java.util.Arrays.fill(v, (float) k.value());
            }
            values[c] = v;
        });
        long elementBytes = dtype.byteSize();
        for (int c = 0; c < chunks; c++) {
            long offset = (long) c * CHUNK * elementBytes;
            StoredConvert.fromFloats(values[c], dst.asSlice(offset, values[c].length * elementBytes), dtype);
        }
    }

    static long mix(long seed, String name) {
        long h = seed ^ 0xD6E8FEB86659FD93L;
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) h = (h ^ b) * 0x100000001B3L;
        return h ^ (h >>> 31);
    }
}
