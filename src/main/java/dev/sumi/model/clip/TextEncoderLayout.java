package dev.sumi.model.clip;

import dev.sumi.nn.ParamList;
import dev.sumi.nn.ParamSpec;
import dev.sumi.nn.ParamSpec.Init;

import java.util.List;

/**
 * Every parameter of a CLIP text encoder under its checkpoint name, relative to the encoder's prefix
 * ({@code cond_stage_model.transformer.} for SD 1.x, {@code cond_stage_model.model.} for SD 2.x).
 * Initialisation follows transformers' CLIPPreTrainedModel._init_weights (OpenCLIP's is the same up to
 * the positional embedding's std, 0.01, and its projection, std width^-1/2).
 */
public final class TextEncoderLayout {
    private TextEncoderLayout() {}

    public static List<ParamSpec> parameters(TextEncoderConfig c) {
        return c.layout() == TextEncoderConfig.Layout.HF_CLIP ? huggingFace(c) : openClip(c);
    }

    private static Init normal(double std) {
        return new Init.Normal(std);
    }

    private static List<ParamSpec> huggingFace(TextEncoderConfig c) {
        ParamList p = new ParamList();
        long w = c.width();
        double inStd = Math.pow(w, -0.5) * Math.pow(2.0 * c.layers(), -0.5), outStd = Math.pow(w, -0.5), fcStd = Math.pow(2.0 * w, -0.5);
        p.tensor("text_model.embeddings.token_embedding.weight", normal(0.02), c.vocabSize(), w);
        p.tensor("text_model.embeddings.position_embedding.weight", normal(0.02), c.maxPositions(), w);
        for (int i = 0; i < c.layers(); i++) {
            String l = "text_model.encoder.layers." + i;
            for (String proj : new String[] {"k_proj", "v_proj", "q_proj", "out_proj"}) {
                p.tensor(l + ".self_attn." + proj + ".weight", normal(proj.equals("out_proj") ? outStd : inStd), w, w);
                p.tensor(l + ".self_attn." + proj + ".bias", ParamSpec.ZERO, w);
            }
            p.norm(l + ".layer_norm1", w);
            p.tensor(l + ".mlp.fc1.weight", normal(fcStd), c.intermediate(), w);
            p.tensor(l + ".mlp.fc1.bias", ParamSpec.ZERO, c.intermediate());
            p.tensor(l + ".mlp.fc2.weight", normal(inStd), w, c.intermediate());
            p.tensor(l + ".mlp.fc2.bias", ParamSpec.ZERO, w);
            p.norm(l + ".layer_norm2", w);
        }
        p.norm("text_model.final_layer_norm", w);
        if (c.projectionDim() > 0) p.tensor("text_projection.weight", normal(Math.pow(w, -0.5)), c.projectionDim(), w);
        return p.build();
    }

    private static List<ParamSpec> openClip(TextEncoderConfig c) {
        ParamList p = new ParamList();
        long w = c.width();
        double inStd = Math.pow(w, -0.5) * Math.pow(2.0 * c.layers(), -0.5), outStd = Math.pow(w, -0.5), fcStd = Math.pow(2.0 * w, -0.5);
        p.tensor("positional_embedding", normal(0.01), c.maxPositions(), w);
        // SD 2.x and SDXL files keep the projection (diffusers' SD 2.x conversion drops it). OpenCLIP's
        // logit_scale scalar is not a text-encoder parameter: files may carry it and loaders skip it.
        if (c.projectionDim() > 0) p.tensor("text_projection", normal(Math.pow(w, -0.5)), w, c.projectionDim());
        p.tensor("token_embedding.weight", normal(0.02), c.vocabSize(), w);
        p.norm("ln_final", w);
        for (int i = 0; i < c.layers(); i++) {
            String l = "transformer.resblocks." + i;
            p.norm(l + ".ln_1", w);
            p.tensor(l + ".attn.in_proj_weight", normal(inStd), 3 * w, w);   // q, k, v stacked
            p.tensor(l + ".attn.in_proj_bias", ParamSpec.ZERO, 3 * w);
            p.tensor(l + ".attn.out_proj.weight", normal(outStd), w, w);
            p.tensor(l + ".attn.out_proj.bias", ParamSpec.ZERO, w);
            p.norm(l + ".ln_2", w);
            p.tensor(l + ".mlp.c_fc.weight", normal(fcStd), c.intermediate(), w);
            p.tensor(l + ".mlp.c_fc.bias", ParamSpec.ZERO, c.intermediate());
            p.tensor(l + ".mlp.c_proj.weight", normal(inStd), w, c.intermediate());
            p.tensor(l + ".mlp.c_proj.bias", ParamSpec.ZERO, w);
        }
        return p.build();
    }
}
