package dev.sumi.lora;

import dev.sumi.model.KeyMap.Component;
import dev.sumi.model.LdmComponent;
import dev.sumi.model.ModelArchitecture;
import dev.sumi.model.ModelHashes;
import dev.sumi.ops.LoraOps;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.TensorEntry;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * kohya-format LoRA / LoCon files applied at inference as LoRA branches beside the frozen base weights (the
 * checkpoint is never changed). Every adapted layer gets ONE module that holds all files' modules for it, ranks
 * concatenated: with s_i = multiplier_i * alpha_i / r_i,
 * <pre>
 * down = [s_1 down_1; s_2 down_2; ...]   (sum r_i, in[, k, k])   rows stacked
 * up   = [up_1 | up_2 | ...]             (out, sum r_i[, 1, 1])  columns side by side
 * alpha = sum r_i                        (scale 1 at multiplier 1)
 * </pre>
 * so up down x = sum_i s_i up_i down_i x: the sum of the files' branches, exact in real arithmetic (A1111 adds each
 * file's s_i up_i down_i into the weight instead; the result is the same linear map).
 *
 * <p>Modules are found by AUTOMATIC1111's rules ({@link A1111LoraNames}, SD 1.x and 2.x names, the first text encoder)
 * and applied where sumi's networks take a LoRA: kohya's LoRA + LoCon sites ({@link LoraNetwork#modules}). A module
 * whose multiplier is 0 (its component's: the text encoder's or the UNet's) is left out, so multiplier 0 for every
 * file gives no network at all and the caller builds the base model ({@link Adapters#FROZEN}).
 *
 * <p>A LoCon module's down kernel must be the base conv's. Some LoCon variants save a 1x1 down for a 3x3 conv; what
 * that means is unsettled (A1111 1.6+ merges the 1x1 product into all nine taps by broadcasting, its older forward
 * hook ran it as a separate 1x1 conv: the centre tap), so sumi rejects such a file with a one-line error.
 */
public final class InferenceLoras {
    private InferenceLoras() {}

    /** One file to apply: {@code name} is how the prompt named it (A1111's mentioned name, used in the infotext). */
    public record Applied(Path file, String name, float textEncoderMultiplier, float unetMultiplier) {
        public Applied {
            if (!Float.isFinite(textEncoderMultiplier) || !Float.isFinite(unetMultiplier)) {
                throw new IllegalArgumentException(file + ": LoRA multipliers must be finite, got te " + textEncoderMultiplier + ", unet " + unetMultiplier);
            }
        }

        float multiplier(Component c) {
            return c == Component.UNET ? unetMultiplier : textEncoderMultiplier;
        }
    }

    /**
     * What became of one file.
     *
     * @param shortHash     A1111's short hash: the first 12 hex digits of {@code sshs_model_hash} from the metadata, else of
     *                      the sha256 of everything after the header (additional-networks' hash, A1111's {@code addnet_hash_safetensors})
     * @param unetModules   modules applied to the UNet (0 when its multiplier is 0)
     * @param textEncoderModules modules applied to the text encoder (0 when its multiplier is 0)
     * @param unmatchedKeys A1111's {@code keys_failed_to_match}: tensor key to the name it was looked up as
     * @param unsupportedKeys keys of modules that match the model but are not plain LoRA (LyCORIS LoHa / LoKr / lora_mid, DoRA, ...): not applied
     * @param notAdapted    LoRA modules that match a model weight sumi takes no LoRA at (conv_in, time embedding, a second text encoder,
     *                      SD 2's unused last text layer): kohya name and the weight, not applied
     */
    public record FileReport(Path file, String name, float textEncoderMultiplier, float unetMultiplier, String shortHash,
                             int unetModules, int textEncoderModules, Map<String, String> unmatchedKeys,
                             List<String> unsupportedKeys, List<String> notAdapted) {

        /** One line per thing a user should know about (nothing for a file that applies cleanly). */
        public List<String> warnings() {
            List<String> out = new ArrayList<>();
            if (!unmatchedKeys.isEmpty()) out.add("Network " + file + " didn't match keys: " + unmatchedKeys);
            if (!unsupportedKeys.isEmpty()) out.add(file + ": " + unsupportedKeys.size() + " keys are not kohya LoRA / LoCon tensors and are not applied: " + unsupportedKeys);
            if (!notAdapted.isEmpty()) out.add(file + ": " + notAdapted.size() + " modules adapt weights sumi applies no LoRA to and are skipped: " + notAdapted);
            return out;
        }
    }

    /** The combined network (null when nothing applies) and one report per file, in the order given. */
    public record Combined(LoraNetwork network, List<FileReport> files) {
        /** A1111's "Lora hashes" infotext value: "name: hash, ..." (names without ':' and ','; one entry per name, the last hash). */
        public String loraHashes() {
            Map<String, String> byName = new LinkedHashMap<>();
            for (FileReport f : files) {
                if (!f.shortHash().isEmpty() && !f.name().isEmpty()) byName.put(f.name().replace(":", "").replace(",", ""), f.shortHash());
            }
            List<String> parts = new ArrayList<>();
            byName.forEach((n, h) -> parts.add(n + ": " + h));
            return String.join(", ", parts);
        }
    }

    /** A layer sumi can adapt. */
    private record Place(Component component, LoraSite site) {}

    /** One file's module at a layer, with its scale multiplier * alpha / r. */
    private record Branch(LoraTensors tensors, float scale) {}

    /** Reads, matches and combines {@code files} for a model of architecture {@code arch}. */
    public static Combined combine(List<Applied> files, ModelArchitecture arch) throws IOException {
        if (arch.unet() == null || arch.textEncoders().isEmpty()) throw new IllegalArgumentException("LoRA: the model " + arch.family() + " lacks a UNet or a text encoder");
        ModelArchitecture.TextEncoder te = arch.textEncoders().getFirst();
        A1111LoraNames.Modules table = A1111LoraNames.of(arch);
        Map<Place, LoraModule> adaptable = new LinkedHashMap<>();   // every LoRA and LoCon site, in kohya's module order
        LoraOptions everything = new LoraOptions(1, 1, 1, 1, true, true, 1, 0);
        for (LoraModule m : LoraNetwork.modules(everything, arch.lineage(), arch.unet(), te.config())) adaptable.put(new Place(m.component(), m.site()), m);

        Map<Place, List<Branch>> branches = new LinkedHashMap<>();
        List<FileReport> reports = new ArrayList<>();
        for (Applied a : files) reports.add(read(a, table, te.component(), adaptable, branches));

        List<LoraModule> modules = new ArrayList<>();
        Map<String, LoraTensors> weights = new LinkedHashMap<>();
        for (var e : adaptable.entrySet()) {
            List<Branch> bs = branches.get(e.getKey());
            if (bs == null) continue;
            LoraTensors t = concatenate(e.getValue(), bs);
            LoraModule base = e.getValue();
            modules.add(new LoraModule(base.kohyaName(), base.component(), base.site(), base.in(), base.out(), base.kernel(), t.rank(), t.alpha()));
            weights.put(base.kohyaName(), t);
        }
        return new Combined(modules.isEmpty() ? null : LoraNetwork.of(arch.lineage(), modules, weights), List.copyOf(reports));
    }

    private static FileReport read(Applied a, A1111LoraNames.Modules table, LdmComponent textEncoder, Map<Place, LoraModule> adaptable,
                                   Map<Place, List<Branch>> branches) throws IOException {
        Path file = a.file();
        KohyaLoraFile.Contents contents = KohyaLoraFile.read(file);
        List<String> keys = new ArrayList<>();
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            for (TensorEntry e : f.tensors()) keys.add(e.name());
        }
        Map<String, String> unmatched = A1111LoraNames.unmatchedKeys(keys, table);
        List<String> unsupported = contents.otherKeys().stream().filter(k -> !unmatched.containsKey(k)).toList();
        List<String> notAdapted = new ArrayList<>();
        int unetModules = 0, textEncoderModules = 0;
        for (LoraTensors t : contents.modules()) {
            A1111LoraNames.Target target = A1111LoraNames.resolve(t.kohyaName(), table);
            if (target == null) continue;   // its keys are in unmatched
            Place place = place(target, textEncoder);
            LoraModule base = place == null ? null : adaptable.get(place);
            if (base == null) {
                notAdapted.add(t.kohyaName() + " (" + target.ldmWeight() + ")");
                continue;
            }
            checkFits(file, t, base, target);
            float multiplier = a.multiplier(base.component());
            if (multiplier == 0) continue;
            branches.computeIfAbsent(place, p -> new ArrayList<>()).add(new Branch(t, (float) (multiplier * (double) t.alpha() / t.rank())));
            if (base.component() == Component.UNET) unetModules++;
            else textEncoderModules++;
        }
        String hash = contents.metadata().getOrDefault("sshs_model_hash", "");
        if (hash.isEmpty()) hash = ModelHashes.of(file).sshsModelHash();
        return new FileReport(file, a.name(), a.textEncoderMultiplier(), a.unetMultiplier(), hash.substring(0, Math.min(12, hash.length())),
                unetModules, textEncoderModules, unmatched, unsupported, List.copyOf(notAdapted));
    }

    /** The sumi layer a resolved module adapts, or null for a component sumi does not adapt at inference. */
    private static Place place(A1111LoraNames.Target target, LdmComponent textEncoder) {
        A1111LoraNames.Module m = target.module();
        String weight = m.ldmKey() + (m.kind() == A1111LoraNames.Kind.MULTIHEAD_ATTENTION ? ".in_proj_weight" : ".weight");
        LdmComponent c = LdmComponent.of(weight);
        Component component = c == LdmComponent.UNET ? Component.UNET : c == textEncoder ? Component.TEXT_ENCODER : null;
        if (component == null) return null;
        return new Place(component, new LoraSite(weight.substring(c.prefix.length()), target.qkvPart()));
    }

    /** down [r, in] or [r, in, k, k] with the base's kernel (a Linear or 1x1 conv takes either), up [out, r]. */
    private static void checkFits(Path file, LoraTensors t, LoraModule base, A1111LoraNames.Target target) {
        long kernel = Math.max(1, base.kernel());
        String layer = " for " + target.ldmWeight() + " " + Arrays.toString(target.adaptedShape());
        String down = file + ": key '" + t.kohyaName() + "." + A1111LoraCheck.DOWN + "': ";
        if (t.inFeatures() != base.in() || t.kernel() != kernel && t.kernel() != 1) {
            throw new IllegalArgumentException(down + "shape " + Arrays.toString(t.downShape()) + " does not fit" + layer);
        }
        if (t.kernel() != kernel) {
            throw new IllegalArgumentException(down + "shape " + Arrays.toString(t.downShape()) + " is a 1x1 down for a " + kernel + "x" + kernel
                    + " conv, a LoCon variant sumi does not apply (kohya's LoCon saves the conv's own kernel)" + layer);
        }
        if (t.outFeatures() != base.out()) {
            throw new IllegalArgumentException(file + ": key '" + t.kohyaName() + "." + A1111LoraCheck.UP + "': shape " + Arrays.toString(t.upShape())
                    + " does not fit" + layer);
        }
    }

    /** The one module of a layer: scaled downs stacked by rows, ups side by side by columns, alpha = rank. */
    private static LoraTensors concatenate(LoraModule base, List<Branch> branches) {
        int rank = 0;
        for (Branch b : branches) rank += b.tensors().rank();
        if (rank > LoraOps.MAX_RANK) {
            throw new IllegalArgumentException("LoRA: the files applied to " + base.site() + " (" + base.kohyaName() + ") add up to rank " + rank
                    + ", more than sumi's " + LoraOps.MAX_RANK + "; apply fewer LoRAs at once");
        }
        LoraModule m = new LoraModule(base.kohyaName(), base.component(), base.site(), base.in(), base.out(), base.kernel(), rank, rank);
        long fanIn = m.downCount() / rank;
        float[] down = new float[Math.toIntExact(m.downCount())];   // (rank, fanIn)
        float[] up = new float[Math.toIntExact(m.upCount())];       // (out, rank)
        int offset = 0;
        for (Branch b : branches) {
            float[] d = b.tensors().down(), u = b.tensors().up();
            int r = b.tensors().rank();
            for (int i = 0; i < d.length; i++) down[(int) (offset * fanIn) + i] = b.scale() * d[i];
            for (int o = 0; o < base.out(); o++) System.arraycopy(u, o * r, up, o * rank + offset, r);
            offset += r;
        }
        return new LoraTensors(m.kohyaName(), down, m.downShape(), up, m.upShape(), rank);
    }
}
