package dev.sumi.lora;

import dev.sumi.model.ModelArchitecture.Lineage;
import dev.sumi.model.ModelFormatException;
import dev.sumi.tensor.safetensors.SafeTensorsException;
import dev.sumi.tensor.safetensors.SafeTensorsFile;
import dev.sumi.tensor.safetensors.TensorEntry;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * What a LoRA file holds, as {@code sumi inspect} reports it: the format (kohya, diffusers/PEFT or
 * unknown), the network type (LoRA, LoCon, LoHa, LoKr), modules per component, ranks and alphas,
 * which base family its modules fit, the modules that fit nothing there, its {@code ss_*} training
 * metadata, and a summary of that metadata (dim, alpha, base model, epoch, steps).
 * <p>
 * Fitting follows AUTOMATIC1111 ({@link A1111LoraNames}): the family where most modules resolve to a
 * module whose input width equals the LoRA's (SD 1.x and 2.x share UNet names, not widths); the
 * unmatched modules are those A1111 would report as "failed to match" on that family.
 */
public record LoraInfo(String format, String networkType, Map<String, Integer> modulesByComponent,
                       Set<Integer> ranks, Set<Float> alphas, Lineage fits, List<String> unmatched,
                       Map<String, String> trainingMetadata, Map<String, String> summary) {

    /** Whether the tensor names look like an adapter at all (used to tell LoRAs from checkpoints). */
    public static boolean looksLikeLora(Set<String> names) {
        return names.stream().anyMatch(n -> n.startsWith("lora_") || n.contains(".lora_A.") || n.contains(".lora_B.")
                || n.contains(".lora.down.") || n.contains(".hada_w1_a") || n.contains(".lokr_w1"));
    }

    public static LoraInfo of(SafeTensorsFile file) throws SafeTensorsException {
        Set<String> names = new TreeSet<>();
        for (TensorEntry e : file.tensors()) names.add(e.name());
        boolean kohya = names.stream().allMatch(n -> n.startsWith("lora_"));
        boolean peft = !kohya && names.stream().anyMatch(n -> n.contains(".lora_A.") || n.contains(".lora_B.") || n.contains(".lora.down."));
        String format = kohya ? "kohya" : peft ? "diffusers/PEFT" : "unknown";
        if (!looksLikeLora(names)) {
            throw new ModelFormatException(file.path() + ": not a LoRA: no lora_*, lora_A/lora_B, hada_ or lokr_ tensors");
        }

        Map<String, long[]> modules = new TreeMap<>();   // module -> its lora_down shape (empty until seen)
        Set<Integer> ranks = new TreeSet<>();
        Set<Float> alphas = new TreeSet<>();
        boolean conv3x3 = false, loha = false, lokr = false;
        for (TensorEntry e : file.tensors()) {
            String n = e.name();
            int dot = n.indexOf('.');
            String module = dot < 0 ? n : n.substring(0, dot);
            String rest = dot < 0 ? "" : n.substring(dot + 1);
            if (kohya) modules.putIfAbsent(module, new long[0]);
            if (kohya && rest.equals("lora_down.weight")) modules.put(module, e.shape());
            if (rest.equals("lora_down.weight") || n.endsWith(".lora_A.weight") || n.endsWith(".lora.down.weight")) {
                ranks.add((int) e.shape()[0]);
                if (e.shape().length == 4 && e.shape()[2] > 1) conv3x3 = true;
            }
            if (rest.startsWith("hada_")) loha = true;
            if (rest.startsWith("lokr_")) lokr = true;
            if (rest.equals("alpha") && e.shape().length == 0) alphas.add(file.readFloats(e)[0]);
        }
        String type = loha ? "LoHa" : lokr ? "LoKr" : conv3x3 ? "LoCon (LoRA with 3x3 conv layers)" : "LoRA";

        Map<String, Integer> byComponent = new LinkedHashMap<>();
        Lineage fits = null;
        List<String> unmatched = new ArrayList<>();
        if (kohya) {
            for (String m : modules.keySet()) {
                String comp = m.startsWith("lora_unet_") ? "UNet" : m.startsWith("lora_te1_") ? "text encoder 1"
                        : m.startsWith("lora_te2_") ? "text encoder 2" : m.startsWith("lora_te_") ? "text encoder" : "other";
                byComponent.merge(comp, 1, Integer::sum);
            }
            int best = -1;
            for (Lineage l : Lineage.values()) {
                A1111LoraNames.Modules base = A1111LoraNames.standard(l);
                int hits = 0;
                for (var m : modules.entrySet()) {
                    A1111LoraNames.Target t = A1111LoraNames.resolve(m.getKey(), base);
                    if (t != null && (m.getValue().length < 2 || m.getValue()[1] == t.adaptedShape()[1])) hits++;
                }
                if (hits > best) {
                    best = hits;
                    fits = l;
                }
            }
            if (best == 0) {
                throw new ModelFormatException(file.path() + ": none of its " + modules.size() + " modules (e.g. " + modules.keySet().iterator().next()
                        + ") matches a module of SD 1.x, SD 2.x or SDXL");
            }
            A1111LoraNames.Modules base = A1111LoraNames.standard(fits);
            for (String m : modules.keySet()) if (A1111LoraNames.resolve(m, base) == null) unmatched.add(m);
        }
        Map<String, String> ss = new TreeMap<>();
        file.metadata().forEach((k, v) -> {
            if (k.startsWith("ss_") || k.startsWith("sshs_") || k.startsWith("modelspec.")) ss.put(k, v);
        });
        return new LoraInfo(format, type, byComponent, ranks, alphas, fits, unmatched, ss, summary(file.metadata()));
    }

    /** The training metadata at a glance: what kohya's ss_* keys say about dim, alpha, base model, epoch and steps. */
    static Map<String, String> summary(Map<String, String> md) {
        Map<String, String> s = new LinkedHashMap<>();
        if (md.containsKey("ss_network_module")) s.put("network", md.get("ss_network_module") + (md.containsKey("ss_network_args") ? " " + md.get("ss_network_args") : ""));
        if (md.containsKey("ss_network_dim")) s.put("dim", md.get("ss_network_dim"));
        if (md.containsKey("ss_network_alpha")) s.put("alpha", md.get("ss_network_alpha"));
        String base = md.get("ss_base_model_version");
        String model = md.get("ss_sd_model_name");
        if (base != null || model != null) s.put("base model", (base != null ? base : "") + (base != null && model != null ? ", " : "") + (model != null ? model : ""));
        if (md.containsKey("ss_epoch")) s.put("epoch", md.get("ss_epoch") + (md.containsKey("ss_num_epochs") ? " of " + md.get("ss_num_epochs") : ""));
        if (md.containsKey("ss_steps")) s.put("steps", md.get("ss_steps"));
        if (md.containsKey("ss_resolution")) s.put("resolution", md.get("ss_resolution"));
        return s;
    }
}
