package dev.sumi.model;

import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNetLayout;
import dev.sumi.model.vae.VaeConfig;
import dev.sumi.model.vae.VaeLayout;
import dev.sumi.nn.ParamSpec;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * sumi's own layouts against the LDM key lists that diffusers' conversion scripts produce from
 * diffusers' models (src/test/resources/keys, made by scripts/golden-keys): every name and shape.
 * diffusers keeps 23 of OpenCLIP-H's 24 layers and drops the projection and logit scale, which real
 * SD 2.x files keep; those are the only differences allowed.
 */
class LayoutMatchesOracleTest {

    static Map<String, String> fixture(String name) throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (InputStream in = LayoutMatchesOracleTest.class.getResourceAsStream("/keys/" + name + ".ldm.txt")) {
            assertNotNull(in, name);
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String line; (line = r.readLine()) != null; ) {
                String[] f = line.split("\t", -1);
                m.put(f[0], f[1]);
            }
        }
        return m;
    }

    static Map<String, String> ours(String component, String prefix, String family) {
        var params = switch (component) {
            case "unet" -> UNetLayout.parameters(switch (family) {
                case "sd15" -> UNetConfig.sd1();
                case "sd21" -> UNetConfig.sd2();
                default -> UNetConfig.sdxl();
            });
            case "vae" -> VaeLayout.parameters(VaeConfig.sd());
            case "text_encoder" -> TextEncoderLayout.parameters(family.equals("sd21") ? TextEncoderConfig.openClipH() : TextEncoderConfig.clipL());
            default -> TextEncoderLayout.parameters(TextEncoderConfig.openClipBigG());
        };
        Map<String, String> m = new TreeMap<>();
        for (ParamSpec p : params) {
            StringBuilder s = new StringBuilder();
            for (long d : p.shape()) s.append(s.isEmpty() ? "" : ",").append(d);
            m.put(prefix + p.name(), s.toString());
        }
        return m;
    }

    @ParameterizedTest
    @CsvSource({
            "sd15, unet, model.diffusion_model.",
            "sd15, vae, first_stage_model.",
            "sd15, text_encoder, cond_stage_model.transformer.",
            "sd21, unet, model.diffusion_model.",
            "sd21, vae, first_stage_model.",
            "sd21, text_encoder, cond_stage_model.model.",
            "sdxl, unet, model.diffusion_model.",
            "sdxl, vae, first_stage_model.",
            "sdxl, text_encoder, conditioner.embedders.0.transformer.",
            "sdxl, text_encoder_2, conditioner.embedders.1.model."})
    void everyNameAndShape(String family, String component, String prefix) throws IOException {
        Map<String, String> expected = fixture(family + "-" + component);
        Map<String, String> ours = ours(component, prefix, family);
        ours.keySet().removeIf(k -> k.endsWith("logit_scale"));
        if (family.equals("sd21") && component.equals("text_encoder")) {
            ours.keySet().removeIf(k -> k.contains(".resblocks.23.") || k.endsWith(".text_projection"));
        }
        assertEquals(expected, ours);
    }
}
