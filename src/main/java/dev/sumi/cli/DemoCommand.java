package dev.sumi.cli;

import dev.sumi.device.Device;
import dev.sumi.device.SelfTest;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.ModelArchitecture;
import dev.sumi.model.RandomCheckpoint;
import dev.sumi.model.clip.ClipTokenizer;
import dev.sumi.model.clip.TextEncoder;
import dev.sumi.model.unet.UNet;
import dev.sumi.model.vae.Vae;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.StoredType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The README's first command. The training loop is the next issue, so for now the demo runs
 * everything underneath it on real files and says plainly that it does not train yet: the device
 * self-test, the embedded tiny model written to disk, its tokenizer, and one text-encoder, VAE and
 * UNet forward + backward pass on a synthetic captioned image.
 */
@Command(name = "demo", description = "Make the embedded tiny model and run one step of every network on it (training comes next).")
public final class DemoCommand implements java.util.concurrent.Callable<Integer> {

    @Mixin
    DeviceOption device;

    @Option(names = "--out", defaultValue = "sumi-demo", description = "Folder for the demo's files (default ${DEFAULT-VALUE}).")
    Path out;

    static final String CAPTION = "a photo of a red circle on a white background, sumi style";

    @Override
    public Integer call() throws Exception {
        try (Device d = device.open()) {
            System.out.println("sumi demo on " + d.name());
            List<SelfTest.Check> checks = SelfTest.run(d);
            boolean ok = checks.stream().allMatch(SelfTest.Check::passed);
            System.out.println("  device self-test: " + checks.stream().filter(SelfTest.Check::passed).count() + "/" + checks.size() + " passed");
            if (!ok) {
                for (SelfTest.Check c : checks) if (!c.passed()) System.out.println("    FAILED " + c.name() + ": " + c.detail());
                return 1;
            }

            Files.createDirectories(out);
            Path model = out.resolve("tiny.safetensors");
            if (!Files.exists(model)) RandomCheckpoint.write(RandomCheckpoint.plan(RandomCheckpoint.Arch.TINY, 0), 0, StoredType.F32, model, false);
            try (Checkpoint ck = Checkpoint.open(model, null)) {
                ModelArchitecture a = ck.architecture();
                System.out.println("  model: " + model + " (" + a.family() + ", tokenizer in " + RandomCheckpoint.tokenizerDir(model) + ")");
                ClipTokenizer tok = ClipTokenizer.locate(model, null);
                int[][] ids = tok.encodeChunks(CAPTION, 75, tok.eos);
                System.out.println("  caption: \"" + CAPTION + "\" -> " + tok.encode(CAPTION).length + " tokens");

                int size = 32;   // pixels; the tiny VAE halves it
                long t0 = System.nanoTime();
                try (TextEncoder te = TextEncoder.load(ck, a.textEncoders().getFirst().component().prefix, a.textEncoders().getFirst().config(), d, DType.F32, 1);
                     Vae vae = Vae.load(ck, a.vae(), d, DType.F32, 1, size, size);
                     Tensor idTensor = Tensor.fromInts(d, ids[0], 1, 77);
                     Tensor image = Tensor.fromFloats(d, DType.F32, circle(size), 1, 3, size, size);
                     Tensor timesteps = Tensor.fromFloats(d, DType.F32, new float[] {500}, 1)) {
                    Tensor context = te.forward(idTensor, 1);
                    Tensor mean = vae.encode(image)[0];
                    try (UNet unet = UNet.load(ck, a.unet(), d, DType.F32, 1, vae.latentHeight(), vae.latentWidth(), 77);
                         Tensor dOut = Tensor.fromFloats(d, DType.F32, new float[(int) mean.numel()], mean.shape().dims())) {
                        Tensor prediction = unet.forward(mean, timesteps, context);
                        dev.sumi.ops.BasicOps.fill(dOut, 1f);
                        unet.backward(dOut);
                        Tensor decoded = vae.decode(mean);
                        System.out.printf(Locale.ROOT, "  one step: text %s -> context %s; image %s -> latents %s; UNet %s forward + backward; decode %s (%.2f s)%n",
                                idTensor.shape(), context.shape(), image.shape(), mean.shape(), prediction.shape(), decoded.shape(), (System.nanoTime() - t0) / 1e9);
                    }
                }
            }
            System.out.println();
            System.out.println("Not built yet: LoRA injection and the training loop (the next issue). Nothing was trained.");
            System.out.println("Built: devices and kernels, the op library, checkpoints, the tokenizer, the text encoder, VAE and UNet.");
            System.out.println("Try ./sumi doctor, ./sumi inspect " + model + ", ./sumi bench ops.");
            return 0;
        }
    }

    /** A red disc on white, in [-1, 1], NCHW. */
    static float[] circle(int size) {
        float[] px = new float[3 * size * size];
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                double dx = x - size / 2.0 + 0.5, dy = y - size / 2.0 + 0.5;
                boolean inside = dx * dx + dy * dy < (size / 3.0) * (size / 3.0);
                px[y * size + x] = 1f;
                px[size * size + y * size + x] = inside ? -1f : 1f;
                px[2 * size * size + y * size + x] = inside ? -1f : 1f;
            }
        }
        return px;
    }
}
