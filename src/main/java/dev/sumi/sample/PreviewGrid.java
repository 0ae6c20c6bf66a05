package dev.sumi.sample;

import dev.sumi.data.RgbImage;
import dev.sumi.image.XyGrid;
import dev.sumi.lora.Adapters;
import dev.sumi.lora.DeviceLora;
import dev.sumi.lora.InferenceLoras;
import dev.sumi.model.KeyMap.Component;
import dev.sumi.tensor.DType;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * The grid train-tools draws after training: one prompt and seed, every saved LoRA file (rows) at every weight
 * (columns), with labelled axes. A file is read and uploaded once per row; a column only changes the adapters'
 * multiplier, so the networks are built once per row.
 */
public final class PreviewGrid {
    private PreviewGrid() {}

    /** A labelled row: the LoRA file and the label drawn beside it (e.g. the file's stem). */
    public record Row(Path file, String label) {}

    /**
     * Draws {@code request} (batch 1) with each row's file at each weight (text encoder and UNet alike) and returns the
     * grid. {@code log} hears the files' warnings (keys that match nothing, ...).
     */
    public static RgbImage render(Generator generator, DType dtype, List<Row> rows, List<Double> weights, GenerationRequest request,
                                  Consumer<String> log) throws IOException {
        if (rows.isEmpty() || weights.isEmpty()) throw new IllegalArgumentException("preview grid: needs at least one LoRA file and one weight");
        if (request.batch() != 1) throw new IllegalArgumentException("preview grid: one image per cell (batch 1), not " + request.batch());
        RgbImage[][] cells = new RgbImage[rows.size()][weights.size()];
        List<String> rowLabels = new ArrayList<>(), columnLabels = new ArrayList<>();
        for (double w : weights) columnLabels.add(weightLabel(w));
        for (int r = 0; r < rows.size(); r++) {
            Row row = rows.get(r);
            rowLabels.add(row.label());
            InferenceLoras.Combined combined = InferenceLoras.combine(List.of(new InferenceLoras.Applied(row.file(), row.label(), 1f, 1f)),
                    generator.architecture());
            combined.files().forEach(f -> f.warnings().forEach(log));
            if (combined.network() == null) throw new IOException(row.file() + ": no LoRA module of this file applies to the model");
            try (DeviceLora lora = combined.network().upload(generator.device(), dtype)) {
                generator.useAdapters(lora.adapters(Component.UNET), lora.adapters(Component.TEXT_ENCODER));
                try {
                    for (int c = 0; c < weights.size(); c++) {
                        lora.setMultiplier(weights.get(c).floatValue());
                        cells[r][c] = generator.generate(request).images().getFirst().image();
                    }
                } finally {
                    generator.useAdapters(Adapters.FROZEN, Adapters.FROZEN);
                }
            }
        }
        return XyGrid.render("LoRA weight", columnLabels, "checkpoint", rowLabels, cells);
    }

    /** 0.6 -> "0.6", 1.0 -> "1", as A1111's X/Y plot prints numbers. */
    static String weightLabel(double w) {
        return w == Math.rint(w) ? String.valueOf((long) w) : String.format(Locale.ROOT, "%s", w);
    }
}
