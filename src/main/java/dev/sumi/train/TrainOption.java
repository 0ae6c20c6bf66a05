package dev.sumi.train;

import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Every setting of {@code sumi train}, once: its kohya name (sd-scripts' train_network.py argument, underscore
 * spelling), extra names sumi accepts, its kind and its help. The command line ({@code --name} with hyphens or
 * underscores), the TOML config (either spelling) and {@code --print-config} are all driven by this table.
 */
public enum TrainOption {
    PRETRAINED_MODEL_NAME_OR_PATH(Kind.PATH, "Base checkpoint (.safetensors) or diffusers folder.", "pretrained_model"),
    TRAIN_DATA_DIR(Kind.PATH, "Image folder: kohya N_name subfolders, or plain images (see --repeats)."),
    OUTPUT_DIR(Kind.PATH, "Folder for the LoRA files, train.log, loss.csv and saved states."),
    OUTPUT_NAME(Kind.STRING, "File name stem of the LoRA files (default: the output folder's name)."),
    RESOLUTION(Kind.STRING, "Training size in pixels: \"512\" or \"W,H\" (kohya order, e.g. \"512,768\")."),
    TRAIN_BATCH_SIZE(Kind.INT, "Images per step."),
    MAX_TRAIN_EPOCHS(Kind.INT, "Epochs to train (wins over --max-train-steps, as in kohya)."),
    MAX_TRAIN_STEPS(Kind.INT, "Optimizer steps to train when no epoch count is given."),
    LEARNING_RATE(Kind.FLOAT, "Base learning rate."),
    UNET_LR(Kind.FLOAT, "Learning rate of the UNet's LoRA (default: --learning-rate)."),
    TEXT_ENCODER_LR(Kind.FLOAT, "Learning rate of the text encoder's LoRA (default: --learning-rate)."),
    OPTIMIZER_TYPE(Kind.STRING, "AdamW or Lion."),
    OPTIMIZER_ARGS(Kind.LIST, "Optimizer settings as key=value: weight_decay=0.1 betas=0.9,0.99 eps=1e-8."),
    LR_SCHEDULER(Kind.STRING, "constant, constant_with_warmup, linear, cosine, cosine_with_restarts or polynomial."),
    LR_WARMUP_STEPS(Kind.INT, "Steps of linear warmup from 0."),
    LR_SCHEDULER_NUM_CYCLES(Kind.INT, "Restarts of cosine_with_restarts."),
    LR_SCHEDULER_POWER(Kind.FLOAT, "Power of the polynomial schedule."),
    NETWORK_MODULE(Kind.STRING, "Accepted for kohya configs; must be networks.lora."),
    NETWORK_DIM(Kind.INT, "LoRA rank of linear layers."),
    NETWORK_ALPHA(Kind.FLOAT, "LoRA alpha of linear layers (scale alpha / rank)."),
    NETWORK_ARGS(Kind.LIST, "kohya network arguments: conv_dim=N conv_alpha=A."),
    CONV_DIM(Kind.INT, "LoRA rank of 3x3 convolutions (LoCon; off when not given)."),
    CONV_ALPHA(Kind.FLOAT, "LoRA alpha of 3x3 convolutions (default 1, as kohya)."),
    NETWORK_TRAIN_UNET_ONLY(Kind.BOOL, "Train only the UNet's LoRA."),
    NETWORK_TRAIN_TEXT_ENCODER_ONLY(Kind.BOOL, "Train only the text encoder's LoRA."),
    CLIP_SKIP(Kind.INT, "Use the text encoder's output this many layers from the end (1 = last)."),
    MAX_TOKEN_LENGTH(Kind.INT, "Caption tokens: 75, 150 or 225."),
    MIXED_PRECISION(Kind.STRING, "Activation precision: no, fp16 or bf16."),
    SAVE_PRECISION(Kind.STRING, "Precision of the saved LoRA: float, fp16 or bf16."),
    SAVE_MODEL_AS(Kind.STRING, "Accepted for kohya configs; must be safetensors."),
    SAVE_EVERY_N_EPOCHS(Kind.INT, "Save a LoRA file every N epochs (0: only at the end)."),
    SAVE_STATE(Kind.BOOL, "Also save a resumable state with each LoRA file."),
    RESUME(Kind.PATH, "Continue from a saved state folder."),
    SEED(Kind.INT, "Seed of all training randomness (default: drawn at start and recorded)."),
    CAPTION_EXTENSION(Kind.STRING, "Extension of caption files next to the images."),
    CAPTION_PREFIX(Kind.STRING, "Text put before every caption."),
    FLIP_AUG(Kind.BOOL, "Also train on horizontally flipped images.", "flip"),
    ENABLE_BUCKET(Kind.BOOL, "Bucket images by aspect ratio instead of cropping to the resolution.", "buckets"),
    MIN_BUCKET_RESO(Kind.INT, "Smallest bucket side in pixels."),
    MAX_BUCKET_RESO(Kind.INT, "Largest bucket side in pixels."),
    NOISE_OFFSET(Kind.FLOAT, "Noise offset (kohya): adds offset * randn per channel to the noise; 0 is off."),
    MIN_SNR_GAMMA(Kind.FLOAT, "Min-SNR-gamma loss weighting (5 is the paper's value); off when not given."),
    V_PARAMETERIZATION(Kind.BOOL, "The model predicts v (SD 2.x 768 px models)."),
    GRADIENT_CHECKPOINTING(Kind.BOOL, "Recompute activations in the backward pass to save memory."),
    MAX_GRAD_NORM(Kind.FLOAT, "Clip the gradient's global norm to this (0: no clipping)."),
    CACHE_LATENTS(Kind.BOOL, "Encode the images with the VAE once, before training."),
    XFORMERS(Kind.BOOL, "Accepted for kohya configs; sumi's attention is always fused."),
    SDPA(Kind.BOOL, "Accepted for kohya configs; sumi's attention is always fused."),
    SAMPLE_PROMPTS(Kind.PATH, "Preview prompts (.txt, kohya's format: one prompt per line with --n negative --w --h --d seed --s steps --l cfg --ss sampler)."),
    SAMPLE_EVERY_N_EPOCHS(Kind.INT, "Draw the preview prompts every N epochs into output_dir/sample (0: never)."),
    SAMPLE_AT_FIRST(Kind.BOOL, "Also draw the preview prompts before the first step."),
    SAMPLE_SAMPLER(Kind.STRING, "Sampler of the previews: euler_a, euler, ddim or dpmpp_2m_karras (a prompt's --ss wins)."),
    PREVIEW_WEIGHTS(Kind.LIST, "LoRA weights of the grid drawn after training: every saved file x these weights (default 0.6 0.7 0.8 0.9 1.0)."),
    PREVIEW_GRID(Kind.BOOL, "After training, draw the first preview prompt with every saved file at every preview weight in one X/Y grid (default: on with --sample-prompts)."),
    DEVICE(Kind.STRING, "Device: auto, host, cuda or cuda:N."),
    JSON(Kind.BOOL, "Print one JSON object per step and event instead of the progress bar."),
    REPEATS(Kind.STRING, "Repeats of a plain image folder: a number or auto (max(4, 512 / images))."),
    DATASET_CHECK_ONLY(Kind.BOOL, "Check the dataset, print what would be trained, and stop."),
    TOKENIZER(Kind.PATH, "CLIP tokenizer: a folder with vocab.json + merges.txt, or OpenAI's bpe_simple_vocab_16e6.txt.gz (default: beside the model, then the Hugging Face cache).");

    /** How a value is written. LIST: several words on the command line, an array or a space-separated string in TOML. */
    public enum Kind { STRING, PATH, INT, FLOAT, BOOL, LIST }

    private final Kind kind;
    private final String help;
    private final List<String> aliases;

    TrainOption(Kind kind, String help, String... aliases) {
        this.kind = kind;
        this.help = help;
        this.aliases = List.of(aliases);
    }

    /** The kohya spelling, e.g. "train_batch_size". */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    public Kind kind() {
        return kind;
    }

    public String help() {
        return help;
    }

    /** Command-line names, the short alias first: --train-batch-size and --train_batch_size, and the same for each alias. */
    public String[] flags() {
        return Stream.concat(aliases.stream(), Stream.of(key()))
                .flatMap(n -> Stream.of("--" + n.replace('_', '-'), "--" + n))
                .distinct().toArray(String[]::new);
    }

    private static final Map<String, TrainOption> BY_NAME = new HashMap<>();

    static {
        for (TrainOption o : values()) {
            BY_NAME.put(o.key(), o);
            for (String a : o.aliases) BY_NAME.put(a, o);
        }
    }

    /** The option a TOML key or flag name (without dashes, either spelling) names, or null. */
    public static TrainOption find(String name) {
        return BY_NAME.get(name.replace('-', '_').toLowerCase(Locale.ROOT));
    }
}
