package dev.sumi.lora;

import dev.sumi.lora.A1111LoraNames.Kind;
import dev.sumi.lora.A1111LoraNames.Modules;
import dev.sumi.lora.A1111LoraNames.Target;
import dev.sumi.model.ModelFormatException;
import dev.sumi.tensor.safetensors.SafeTensorsException;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.TensorEntry;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The re-read check of a kohya LoRA file before sumi publishes it: would AUTOMATIC1111 apply every key to the base
 * model it was trained for? Per key (in file order): a known part ({@code lora_down.weight}, {@code lora_up.weight},
 * {@code alpha}); a module that {@link A1111LoraNames#resolve} finds; a Linear, Conv2d or MultiheadAttention module
 * (what {@code network_lora.NetworkModuleLora.create_module} accepts); a floating-point dtype; finite values. Per
 * module: all three keys; down {@code [r, in]} and up {@code [out, r]} against the module's weight {@code [out, in]}
 * or {@code [out, in, k, k]} (a q/k/v block of a fused in_proj counts as {@code [C, C]}), with the trailing
 * {@code 1, 1} A1111's reshapes allow, and a k x k conv's down {@code [r, in, k, k]}; alpha a 0-d scalar
 * ({@code .item()} in {@code network.NetworkModule}, scale = alpha / r).
 */
public final class A1111LoraCheck {
    private A1111LoraCheck() {}

    static final String DOWN = "lora_down.weight";
    static final String UP = "lora_up.weight";
    static final String ALPHA = "alpha";
    private static final Set<String> PARTS = Set.of(DOWN, UP, ALPHA);

    /**
     * Checks {@code file} against {@code base}; returns where each module lands, by kohya name. Throws a
     * {@link ModelFormatException} "&lt;file&gt;: key '&lt;key&gt;': &lt;reason&gt;" for the first bad key.
     */
    public static Map<String, Target> check(Path file, Modules base) throws SafeTensorsException {
        return check(file, file, base);
    }

    /** {@link #check(Path, Modules)} of {@code file}, with messages naming {@code shown} (the final name of a temporary file). */
    public static Map<String, Target> check(Path file, Path shown, Modules base) throws SafeTensorsException {
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            if (f.tensors().isEmpty()) throw new ModelFormatException(shown + ": no tensors: a LoRA file holds at least one module");
            Map<String, Map<String, TensorEntry>> byModule = new TreeMap<>();
            Map<String, Target> targets = new TreeMap<>();
            for (TensorEntry e : f.tensors()) {
                String key = e.name();
                int dot = key.indexOf('.');
                String module = dot < 0 ? key : key.substring(0, dot);
                String part = dot < 0 ? "" : key.substring(dot + 1);
                if (!PARTS.contains(part)) throw bad(shown, key, "unexpected part '" + part + "' (kohya LoRA keys end in .lora_down.weight, .lora_up.weight or .alpha)");
                Target t = targets.get(module);
                if (t == null) {
                    t = A1111LoraNames.resolve(module, base);
                    if (t == null) {
                        throw bad(shown, key, "module '" + module + "' maps onto no module of " + base.family() + " by AUTOMATIC1111's rules (looked up as '"
                                + A1111LoraNames.convertDiffusersNameToCompvis(module, base.isSd2()) + "')");
                    }
                    if (t.module().kind() == Kind.OTHER) {
                        throw bad(shown, key, "module '" + module + "' maps onto " + t.ldmWeight() + " " + Arrays.toString(t.module().weightShape())
                                + ", which is not a Linear, Conv2d or MultiheadAttention weight: LoRA cannot adapt it");
                    }
                    targets.put(module, t);
                }
                if (!e.type().isFloatingPoint()) throw bad(shown, key, "dtype " + e.type() + " is not a floating-point type");
                float[] values = f.readFloats(e);
                for (int i = 0; i < values.length; i++) {
                    if (!Float.isFinite(values[i])) throw bad(shown, key, "element " + i + " is " + values[i]);
                }
                byModule.computeIfAbsent(module, m -> new TreeMap<>()).put(part, e);
            }
            for (var entry : byModule.entrySet()) {
                checkModule(shown, entry.getKey(), entry.getValue(), targets.get(entry.getKey()));
            }
            return targets;
        }
    }

    private static void checkModule(Path shown, String module, Map<String, TensorEntry> parts, Target t) {
        for (String p : new String[] {DOWN, UP, ALPHA}) {
            if (!parts.containsKey(p)) throw bad(shown, module + "." + p, "missing: every module needs lora_down.weight, lora_up.weight and alpha");
        }
        long[] w = t.adaptedShape();   // [out, in] or [out, in, k, k]
        long[] down = parts.get(DOWN).shape(), up = parts.get(UP).shape();
        long r = down.length > 0 ? down[0] : -1;
        String target = " for " + t.ldmWeight() + " " + Arrays.toString(w);
        // network_lora.create_module reshapes: a Linear takes [r, in] or [r, in, 1, 1]; a conv takes [r, in] as a 1x1
        // conv, else its own kernel. kohya writes [r, in] for a Linear and [r, in, k, k] for any Conv2d.
        boolean kernel1 = w.length == 2 || w[2] == 1 && w[3] == 1;
        boolean downOk = r > 0 && (Arrays.equals(down, new long[] {r, w[1]}) && kernel1
                || down.length == 4 && down[1] == w[1] && (kernel1 ? down[2] == 1 && down[3] == 1 : down[2] == w[2] && down[3] == w[3]));
        if (!downOk) {
            String want = w.length == 4 && !kernel1 ? "[r, " + w[1] + ", " + w[2] + ", " + w[3] + "]" : "[r, " + w[1] + "] or [r, " + w[1] + ", 1, 1]";
            throw bad(shown, module + "." + DOWN, "shape " + Arrays.toString(down) + ", expected " + want + target);
        }
        if (!Arrays.equals(up, new long[] {w[0], r}) && !Arrays.equals(up, new long[] {w[0], r, 1, 1})) {
            throw bad(shown, module + "." + UP, "shape " + Arrays.toString(up) + ", expected [" + w[0] + ", " + r + "] or [" + w[0] + ", " + r + ", 1, 1]" + target);
        }
        long[] alpha = parts.get(ALPHA).shape();
        if (alpha.length != 0) throw bad(shown, module + "." + ALPHA, "shape " + Arrays.toString(alpha) + ", expected a 0-d scalar");
    }

    private static ModelFormatException bad(Path file, String key, String reason) {
        return new ModelFormatException(file + ": key '" + key + "': " + reason);
    }
}
