package dev.sumi.cli;

import dev.sumi.device.Device;
import dev.sumi.device.DeviceSelector;
import dev.sumi.lora.LoraOptions;
import dev.sumi.model.Checkpoint;
import dev.sumi.model.unet.UNetOptions;
import dev.sumi.plan.MemoryPlan;
import dev.sumi.tensor.DType;
import dev.sumi.util.Bytes;
import dev.sumi.util.JsonOut;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * Prints the device memory a LoRA training step of a model needs, by part, and whether it fits. The
 * networks are built on a {@link dev.sumi.device.PlanningDevice}, so their numbers are what sumi
 * allocates; only the LoRA lines are computed (marked "~").
 */
@Command(name = "plan", description = "Show the device memory a LoRA training step needs, by part, and whether it fits.")
public final class PlanCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Checkpoint or diffusers folder (only its header is read).")
    Path model;

    @Option(names = "--resolution", defaultValue = "512", description = "Image size in pixels: N or WxH (default ${DEFAULT-VALUE}).")
    String resolution;

    @Option(names = "--batch", defaultValue = "1", description = "Images per step (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--dtype", defaultValue = "BF16", converter = DTypeConverter.class,
            description = "Weight and activation type: F32, F16 or BF16 (default ${DEFAULT-VALUE}).")
    DType dtype;

    @Option(names = "--lora-rank", defaultValue = "32", description = "LoRA rank (default ${DEFAULT-VALUE}).")
    int rank;

    @Option(names = "--lora-conv-dim", defaultValue = "0", description = "LoCon rank of the 3x3 convs, 0 = off (default ${DEFAULT-VALUE}).")
    int convDim;

    @Option(names = "--gradient-checkpointing", description = "Plan the UNet with gradient checkpointing: module internals recomputed in the backward.")
    boolean gradientCheckpointing;

    @Option(names = "--device-memory", description = "Device memory to fit in, e.g. 8GiB, 12GB, 24000MiB or bytes.")
    String deviceMemory;

    @Option(names = "--device", description = "Fit against the free memory of this device (host, cuda or cuda:N).")
    String device;

    @Option(names = "--json", description = "One JSON object instead of the table.")
    boolean json;

    static final class DTypeConverter implements picocli.CommandLine.ITypeConverter<DType> {
        @Override
        public DType convert(String value) {
            return DType.valueOf(value.toUpperCase(Locale.ROOT));
        }
    }

    @Override
    public Integer call() throws Exception {
        int[] wh = parseResolution(resolution);
        if (batch < 1) throw new IllegalArgumentException("--batch must be positive, not " + batch);
        if (rank < 1) throw new IllegalArgumentException("--lora-rank must be positive, not " + rank);
        MemoryPlan plan;
        try (Checkpoint ck = Checkpoint.open(model, null)) {
            plan = MemoryPlan.of(ck.architecture(), dtype, batch, wh[0], wh[1], LoraOptions.of(rank, rank, 0).withConv(convDim, convDim),
                    gradientCheckpointing ? UNetOptions.CHECKPOINTED : UNetOptions.DEFAULT);
        }
        Long available = null;
        String against = null;
        if (deviceMemory != null) {
            available = parseBytes(deviceMemory);
            against = "--device-memory " + deviceMemory;
        } else if (device != null) {
            try (Device d = DeviceSelector.open(device)) {
                available = d.memoryInfo().free();
                against = "free memory of " + d.name();
            }
        }
        if (json) System.out.println(JsonOut.write(toJson(plan, available, against)));
        else print(plan, available, against);
        return 0;
    }

    static void print(MemoryPlan plan, Long available, String against) {
        System.out.printf(Locale.ROOT, "%s, %s, batch %d, %dx%d px, LoRA rank %d%s%n", plan.family(), plan.dtype(), plan.batch(), plan.width(), plan.height(),
                plan.loraRank(), (plan.loraConvDim() > 0 ? ", LoCon conv dim " + plan.loraConvDim() : "")
                + (plan.gradientCheckpointing() ? ", gradient checkpointing" : ""));
        for (MemoryPlan.Phase phase : plan.phases()) {
            System.out.println();
            System.out.println(phase.name() + ":");
            System.out.printf(Locale.ROOT, "  %-56s %12s %7s%n", "part", "bytes", "share");
            for (MemoryPlan.Part p : phase.parts()) {
                System.out.printf(Locale.ROOT, "  %-56s %12s %6.1f%%%n", (p.exact() ? "" : "~ ") + p.category(), Bytes.human(p.bytes()),
                        100.0 * p.bytes() / phase.peak());
            }
            System.out.printf(Locale.ROOT, "  %-56s %12s%n", "peak", Bytes.human(phase.peak()));
            if (phase.note() != null) System.out.println("  note: " + phase.note());
        }
        System.out.println();
        System.out.println("peak: " + Bytes.human(plan.peak()) + " (" + plan.peak() + " bytes)");
        System.out.println("~ computed (the optimizer's state). Everything else is counted: what sumi allocates for these shapes.");
        if (available != null) {
            long margin = available - plan.peak();
            System.out.println(margin >= 0
                    ? "fits in " + Bytes.human(available) + " (" + against + "), " + Bytes.human(margin) + " to spare"
                    : "does NOT fit in " + Bytes.human(available) + " (" + against + "): " + Bytes.human(-margin) + " short");
        }
    }

    static Map<String, Object> toJson(MemoryPlan plan, Long available, String against) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("family", plan.family());
        m.put("dtype", plan.dtype().name());
        m.put("batch", plan.batch());
        m.put("width", plan.width());
        m.put("height", plan.height());
        m.put("loraRank", plan.loraRank());
        m.put("loraConvDim", plan.loraConvDim());
        m.put("gradientCheckpointing", plan.gradientCheckpointing());
        List<Object> phases = new ArrayList<>();
        for (MemoryPlan.Phase phase : plan.phases()) {
            Map<String, Object> ph = new LinkedHashMap<>();
            ph.put("name", phase.name());
            List<Object> parts = new ArrayList<>();
            for (MemoryPlan.Part p : phase.parts()) {
                Map<String, Object> pm = new LinkedHashMap<>();
                pm.put("category", p.category());
                pm.put("bytes", p.bytes());
                pm.put("exact", p.exact());
                parts.add(pm);
            }
            ph.put("parts", parts);
            ph.put("peak", phase.peak());
            if (phase.note() != null) ph.put("note", phase.note());
            phases.add(ph);
        }
        m.put("phases", phases);
        m.put("peak", plan.peak());
        if (available != null) {
            m.put("available", available);
            m.put("against", against);
            m.put("fits", available >= plan.peak());
            m.put("margin", available - plan.peak());
        }
        return m;
    }

    static int[] parseResolution(String s) {
        String[] p = s.toLowerCase(Locale.ROOT).split("x");
        try {
            if (p.length == 1) {
                int n = Integer.parseInt(p[0].strip());
                return new int[] {n, n};
            }
            if (p.length == 2) return new int[] {Integer.parseInt(p[0].strip()), Integer.parseInt(p[1].strip())};
        } catch (NumberFormatException ignored) {
            // fall through
        }
        throw new IllegalArgumentException("--resolution " + s + ": expected N or WxH, e.g. 512 or 768x512");
    }

    /** "8GiB", "8 GB", "512MiB", "12G", "1000000": binary units for KiB/MiB/GiB and K/M/G, decimal for KB/MB/GB. */
    static long parseBytes(String s) {
        String t = s.strip().replace(" ", "");
        int i = 0;
        while (i < t.length() && (Character.isDigit(t.charAt(i)) || t.charAt(i) == '.')) i++;
        if (i == 0) throw new IllegalArgumentException("--device-memory " + s + ": expected a size such as 8GiB");
        double v = Double.parseDouble(t.substring(0, i));
        long unit = switch (t.substring(i).toLowerCase(Locale.ROOT)) {
            case "", "b" -> 1L;
            case "k", "kib" -> 1L << 10;
            case "m", "mib" -> 1L << 20;
            case "g", "gib" -> 1L << 30;
            case "t", "tib" -> 1L << 40;
            case "kb" -> 1_000L;
            case "mb" -> 1_000_000L;
            case "gb" -> 1_000_000_000L;
            case "tb" -> 1_000_000_000_000L;
            default -> throw new IllegalArgumentException("--device-memory " + s + ": unknown unit " + t.substring(i));
        };
        return (long) (v * unit);
    }
}
