package dev.sumi.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the UNet predicts: the noise (epsilon) or the velocity (v). The weights cannot tell, so the
 * decision is, in order: the {@code --v-pred} flag, a sidecar {@code .yaml} next to the file with
 * {@code parameterization: "v"} (as A1111 reads it), the diffusers scheduler config, else epsilon.
 */
public record Prediction(boolean v, String source) {

    static Prediction of(boolean v, String source) {
        return new Prediction(v, source);
    }

    private static final Pattern PARAMETERIZATION = Pattern.compile("(?m)^\\s*parameterization\\s*:\\s*[\"']?(\\w+)[\"']?");

    static Prediction decide(Path checkpoint, Boolean flag, ModelArchitecture.Lineage lineage) {
        if (flag != null) return new Prediction(flag, "--v-pred flag");
        String name = checkpoint.getFileName().toString();
        int dot = name.lastIndexOf('.');
        Path yaml = checkpoint.resolveSibling((dot > 0 ? name.substring(0, dot) : name) + ".yaml");
        if (Files.isRegularFile(yaml)) {
            try {
                Matcher m = PARAMETERIZATION.matcher(Files.readString(yaml));
                if (m.find()) return new Prediction(m.group(1).equals("v"), yaml.getFileName().toString());
                return new Prediction(false, yaml.getFileName() + " (no parameterization: epsilon)");
            } catch (IOException e) {
                throw new ModelFormatException(yaml + ": cannot read: " + e.getMessage());
            }
        }
        String hint = lineage == ModelArchitecture.Lineage.SD2 ? " (SD 2.x 768px models predict v: pass --v-pred or add a .yaml)" : "";
        return new Prediction(false, "default" + hint);
    }

    public String describe() {
        return (v ? "v-prediction" : "epsilon") + " (" + source + ")";
    }
}
