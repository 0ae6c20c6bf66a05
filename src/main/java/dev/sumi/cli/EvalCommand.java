package dev.sumi.cli;

import dev.sumi.device.Device;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.ModelArchitecture;
import dev.sumi.model.ModelFormatException;
import dev.sumi.model.clip.TextEncoder;
import dev.sumi.model.unet.UNet;
import dev.sumi.model.vae.Vae;
import dev.sumi.tensor.DType;
import dev.sumi.tensor.Tensor;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.SafeTensorsWriter;
import dev.sumi.tensor.safetensors.StoredType;
import dev.sumi.tensor.safetensors.TensorEntry;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * Runs one network on tensors read from a safetensors file and writes its outputs (F32): how the
 * golden tests and users compare sumi with other implementations.
 */
@Command(name = "eval", description = "Run one network on tensors from a .safetensors file and write its outputs.",
        subcommands = {EvalCommand.UNetEval.class, EvalCommand.TextEncoderEval.class, EvalCommand.VaeEncode.class, EvalCommand.VaeDecode.class})
public final class EvalCommand implements Runnable {

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Options every eval shares. */
    static final class Common {
        @Option(names = "--model", required = true, description = "Checkpoint or diffusers folder.")
        Path model;

        @Option(names = "--inputs", required = true, description = "Input .safetensors.")
        Path inputs;

        @Option(names = "--out", required = true, description = "Output .safetensors (F32).")
        Path out;

        @Option(names = "--dtype", defaultValue = "F32", description = "Compute/storage type: F32, F16 or BF16 (default ${DEFAULT-VALUE}).")
        DType dtype;

        @Option(names = "--force", description = "Replace an existing output file.")
        boolean force;

        @Mixin
        DeviceOption device;

        long[] shape(SafeTensorsFile f, String name, int rank) throws Exception {
            TensorEntry e = f.get(name);
            if (e.shape().length != rank) throw new ModelFormatException(inputs + ": " + name + " must have rank " + rank + ", has " + java.util.Arrays.toString(e.shape()));
            return e.shape();
        }

        void write(String name, Tensor t) throws Exception {
            write(java.util.Map.of(name, t));
        }

        /** Writes every output as F32, atomically, refusing to replace a file without --force. */
        void write(java.util.Map<String, Tensor> outputs) throws Exception {
            SafeTensorsWriter w = new SafeTensorsWriter();
            for (var e : new java.util.TreeMap<>(outputs).entrySet()) w.addFloats(e.getKey(), StoredType.F32, e.getValue().shape().dims(), e.getValue().toFloats());
            w.write(out, force);
            outputs.forEach((k, t) -> System.out.println("wrote " + k + " " + t.shape() + " to " + out));
        }
    }

    @Command(name = "unet", description = "latents [B,4,h,w], timesteps [B], context [B,T,C] -> out [B,4,h,w] (the model's prediction).")
    static final class UNetEval implements Callable<Integer> {
        @Mixin
        Common c;

        @Override
        public Integer call() throws Exception {
            try (Checkpoint ck = Checkpoint.open(c.model, null); SafeTensorsFile in = SafeTensorsFile.open(c.inputs); Device d = c.device.open()) {
                if (ck.architecture().unet() == null) throw new ModelFormatException(c.model + ": no UNet");
                long[] ls = c.shape(in, "latents", 4), ts = c.shape(in, "timesteps", 1), cs = c.shape(in, "context", 3);
                if (ts[0] != ls[0] || cs[0] != ls[0]) throw new ModelFormatException(c.inputs + ": latents, timesteps and context disagree on the batch size");
                try (UNet unet = UNet.load(ck, ck.architecture().unet(), d, c.dtype, (int) ls[0], (int) ls[2], (int) ls[3], (int) cs[1]);
                     Tensor latents = Tensor.fromFloats(d, c.dtype, in.readFloats("latents"), ls);
                     Tensor timesteps = Tensor.fromFloats(d, DType.F32, in.readFloats("timesteps"), ts);
                     Tensor context = Tensor.fromFloats(d, c.dtype, in.readFloats("context"), cs)) {
                    c.write("out", unet.forward(latents, timesteps, context));
                }
            }
            return 0;
        }
    }

    @Command(name = "text-encoder", description = "input_ids [B,77] -> hidden [B,77,C] (after the final LayerNorm).")
    static final class TextEncoderEval implements Callable<Integer> {
        @Mixin
        Common c;

        @Option(names = "--clip-skip", defaultValue = "1", description = "1 = last layer, 2 = penultimate (default ${DEFAULT-VALUE}).")
        int clipSkip;

        @Option(names = "--encoder", defaultValue = "1", description = "Which text encoder (2 = SDXL's second) (default ${DEFAULT-VALUE}).")
        int encoder;

        @Override
        public Integer call() throws Exception {
            try (Checkpoint ck = Checkpoint.open(c.model, null); SafeTensorsFile in = SafeTensorsFile.open(c.inputs); Device d = c.device.open()) {
                var encoders = ck.architecture().textEncoders();
                if (encoder < 1 || encoder > encoders.size()) throw new ModelFormatException(c.model + ": has " + encoders.size() + " text encoder(s), not " + encoder);
                ModelArchitecture.TextEncoder te = encoders.get(encoder - 1);
                long[] s = c.shape(in, "input_ids", 2);
                float[] raw = in.readFloats("input_ids");
                int[] ids = new int[raw.length];
                for (int i = 0; i < raw.length; i++) ids[i] = Math.round(raw[i]);
                try (TextEncoder model = TextEncoder.load(ck, te.component().prefix, te.config(), d, c.dtype, (int) s[0]);
                     Tensor idTensor = Tensor.fromInts(d, ids, s)) {
                    c.write("hidden", model.forward(idTensor, clipSkip));
                }
            }
            return 0;
        }
    }

    @Command(name = "vae-encode", description = "image [B,3,H,W] in [-1,1] -> mean and logvar of the posterior (unscaled).")
    static final class VaeEncode implements Callable<Integer> {
        @Mixin
        Common c;

        @Override
        public Integer call() throws Exception {
            try (Checkpoint ck = Checkpoint.open(c.model, null); SafeTensorsFile in = SafeTensorsFile.open(c.inputs); Device d = c.device.open()) {
                if (ck.architecture().vae() == null) throw new ModelFormatException(c.model + ": no VAE");
                long[] s = c.shape(in, "image", 4);
                try (Vae vae = Vae.load(ck, ck.architecture().vae(), d, c.dtype, (int) s[0], (int) s[2], (int) s[3]);
                     Tensor image = Tensor.fromFloats(d, c.dtype, in.readFloats("image"), s)) {
                    Tensor[] posterior = vae.encode(image);
                    c.write(java.util.Map.of("mean", posterior[0], "logvar", posterior[1]));
                }
            }
            return 0;
        }
    }

    @Command(name = "vae-decode", description = "latents [B,4,h,w] (unscaled) -> image [B,3,H,W].")
    static final class VaeDecode implements Callable<Integer> {
        @Mixin
        Common c;

        @Override
        public Integer call() throws Exception {
            try (Checkpoint ck = Checkpoint.open(c.model, null); SafeTensorsFile in = SafeTensorsFile.open(c.inputs); Device d = c.device.open()) {
                if (ck.architecture().vae() == null) throw new ModelFormatException(c.model + ": no VAE");
                long[] s = c.shape(in, "latents", 4);
                int f = ck.architecture().vae().downscale();
                try (Vae vae = Vae.load(ck, ck.architecture().vae(), d, c.dtype, (int) s[0], (int) s[2] * f, (int) s[3] * f);
                     Tensor latents = Tensor.fromFloats(d, c.dtype, in.readFloats("latents"), s)) {
                    c.write("image", vae.decode(latents));
                }
            }
            return 0;
        }
    }
}
