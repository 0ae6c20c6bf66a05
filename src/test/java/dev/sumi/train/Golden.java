package dev.sumi.train;

import dev.sumi.tensor.safetensors.Json;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Reads src/test/resources/golden/train.json (written by scripts/golden-train). */
final class Golden {
    private Golden() {}

    @SuppressWarnings("unchecked")
    static Map<String, Object> load() throws Exception {
        Map<String, Object> m = (Map<String, Object>) Json.parse(Files.readString(Path.of("src/test/resources/golden/train.json")));
        if (!"sumi-golden-train-1".equals(m.get("format"))) throw new IllegalStateException("train.json: unexpected format " + m.get("format"));
        return m;
    }

    static double num(Object o) {
        return o instanceof Json.Num n ? Double.parseDouble(n.text()) : ((Number) o).doubleValue();
    }

    static double[] doubles(Object list) {
        List<?> l = (List<?>) list;
        double[] d = new double[l.size()];
        for (int i = 0; i < d.length; i++) d[i] = num(l.get(i));
        return d;
    }

    static float[][] matrix(Object list) {
        List<?> rows = (List<?>) list;
        float[][] out = new float[rows.size()][];
        for (int i = 0; i < out.length; i++) {
            double[] r = doubles(rows.get(i));
            out[i] = new float[r.length];
            for (int j = 0; j < r.length; j++) out[i][j] = (float) r[j];
        }
        return out;
    }
}
