package dev.sumi.lora;

import dev.sumi.model.ModelArchitecture.Lineage;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.sumi.lora.KohyaLoraSpelling.jsonDumps;
import static dev.sumi.lora.KohyaLoraSpelling.pyFloat;
import static dev.sumi.lora.KohyaLoraSpelling.pyStr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KohyaLoraMetadataTest {

    /** Expected strings are what CPython 3.11 prints for repr(x), str(t) and json.dumps(v). */
    @Test
    void numbersAreSpelledAsPythonPrintsThem() {
        double[] x = {0.0001, 1e-5, 1e16, 1e15, 123456789.125, 0.1, 1.0 / 3, 1.5e-7, 2.5e300, 4.0, 1732580000.1234567, 5e-05, 100.0, -0.5, 0.0};
        String[] py = {"0.0001", "1e-05", "1e+16", "1000000000000000.0", "123456789.125", "0.1", "0.3333333333333333", "1.5e-07", "2.5e+300",
                "4.0", "1732580000.1234567", "5e-05", "100.0", "-0.5", "0.0"};
        for (int i = 0; i < x.length; i++) assertEquals(py[i], pyFloat(x[i]), "repr(" + x[i] + ")");
        assertEquals("None", pyStr(null));
        assertEquals("True", pyStr(true));
        assertEquals("8", pyStr(8));
        assertEquals("(512, 768)", pyStr(List.of(512, 768)));
        Map<String, Object> inner = new LinkedHashMap<>();
        inner.put("n_repeats", 10);
        inner.put("img_count", 3);
        Map<String, Object> odd = new LinkedHashMap<>();
        odd.put("a\\b\n", 1);
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("10_ch ar", inner);
        v.put("\u00e9\"x", odd);
        assertEquals("{\"10_ch ar\": {\"n_repeats\": 10, \"img_count\": 3}, \"\\u00e9\\\"x\": {\"a\\\\b\\n\": 1}}", jsonDumps(v));
    }

    @Test
    void theMetadataHasKohyasKeysAndSpellings() {
        Map<String, Map<String, Integer>> tags = new LinkedHashMap<>();
        tags.put("10_sumi", new LinkedHashMap<>(Map.of("sumi style", 20)));
        Map<String, String> m = KohyaLoraMetadata.builder(Lineage.SD1).outputName("sumi-style")
                .baseModel("v1-5-pruned-emaonly.safetensors", "a9263745", "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa")
                .network("networks.lora", 16, 8).convDimAlpha(4, "1").resolution(512, 768).clipSkip(2).images(200, 2).progress(3, 10, 300)
                .learningRates(1e-4, 1e-4, 5e-5).optimizer(KohyaLoraMetadata.LION).lrScheduler("cosine").noiseOffset(0.05).minSnrGamma(5.0)
                .seed(42L).tagFrequency(tags).datasetDirs(Map.of("10_sumi", new KohyaLoraMetadata.DatasetDir(10, 20)))
                .times(1732580000.25, 1732583600.5).implementationVersion("sumi/0.1.0").build().toMap();
        Map<String, String> want = new LinkedHashMap<>();
        want.put("ss_training_started_at", "1732580000.25");
        want.put("ss_output_name", "sumi-style");
        want.put("ss_learning_rate", "0.0001");
        want.put("ss_text_encoder_lr", "5e-05");
        want.put("ss_unet_lr", "0.0001");
        want.put("ss_num_train_images", "200");
        want.put("ss_num_epochs", "10");
        want.put("ss_lr_scheduler", "cosine");
        want.put("ss_network_module", "networks.lora");
        want.put("ss_network_dim", "16");
        want.put("ss_network_alpha", "8.0");
        want.put("ss_v2", "False");
        want.put("ss_base_model_version", "sd_v1");
        want.put("ss_clip_skip", "2");
        want.put("ss_max_token_length", "None");
        want.put("ss_seed", "42");
        want.put("ss_noise_offset", "0.05");
        want.put("ss_optimizer", "lion_pytorch.lion_pytorch.Lion");
        want.put("ss_min_snr_gamma", "5.0");
        want.put("ss_batch_size_per_device", "2");
        want.put("ss_resolution", "(512, 768)");
        want.put("ss_dataset_dirs", "{\"10_sumi\": {\"n_repeats\": 10, \"img_count\": 20}}");
        want.put("ss_tag_frequency", "{\"10_sumi\": {\"sumi style\": 20}}");
        want.put("ss_network_args", "{\"conv_dim\": \"4\", \"conv_alpha\": \"1\"}");
        want.put("ss_sd_model_hash", "a9263745");
        want.put("ss_new_sd_model_hash", "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa");
        want.put("ss_sd_model_name", "v1-5-pruned-emaonly.safetensors");
        want.put("ss_training_finished_at", "1732583600.5");
        want.put("ss_steps", "300");
        want.put("ss_epoch", "3");
        want.put("modelspec.architecture", "stable-diffusion-v1/lora");
        want.put("modelspec.implementation", "diffusers");
        want.put("modelspec.title", "sumi-style");
        want.put("modelspec.resolution", "512x768");
        want.put("modelspec.sai_model_spec", "1.0.1");
        String date = m.get("modelspec.date");
        assertTrue(date != null && date.matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d"), date);   // datetime.isoformat(), local time
        want.put("modelspec.date", date);
        want.put("modelspec.prediction_type", "epsilon");
        want.put("modelspec.encoder_layer", "2");
        want.put("modelspec.implementation_version", "sumi/0.1.0");
        assertEquals(want, m);
        assertEquals(List.copyOf(want.keySet()), List.copyOf(m.keySet()));
    }

    @Test
    void unsetValuesAreNoneAndTheLineageDecidesTheArchitecture() {
        Map<String, String> sd2v = KohyaLoraMetadata.builder(Lineage.SD2).vPrediction(true).times(0, 1700000000).build().toMap();
        assertEquals("sd_v2_v", sd2v.get("ss_base_model_version"));
        assertEquals("True", sd2v.get("ss_v2"));
        assertEquals("stable-diffusion-v2-768-v/lora", sd2v.get("modelspec.architecture"));
        assertEquals("v", sd2v.get("modelspec.prediction_type"));
        assertEquals("None", sd2v.get("ss_output_name"));
        assertEquals("None", sd2v.get("ss_clip_skip"));
        assertEquals("None", sd2v.get("ss_seed"));
        assertEquals("LoRA@1700000000.0", sd2v.get("modelspec.title"));
        assertFalse(sd2v.containsKey("ss_network_args"));
        assertFalse(sd2v.containsKey("modelspec.encoder_layer"));
        Map<String, String> xl = KohyaLoraMetadata.builder(Lineage.SDXL).build().toMap();
        assertEquals("sdxl_base_v1-0", xl.get("ss_base_model_version"));
        assertEquals("stable-diffusion-xl-v1-base/lora", xl.get("modelspec.architecture"));
        assertEquals("https://github.com/Stability-AI/generative-models", xl.get("modelspec.implementation"));
        assertEquals("(1024, 1024)", xl.get("ss_resolution"));
        assertThrows(IllegalArgumentException.class, () -> KohyaLoraMetadata.builder(Lineage.SD1).network("networks.lora", 0, 1).build());
    }
}
