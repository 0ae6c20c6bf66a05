package dev.sumi.data;

/**
 * How captions are found and turned into the text the model sees (kohya's caption_extension, caption_prefix,
 * caption_suffix, shuffle_caption, keep_tokens).
 *
 * @param extension      caption file extension, with or without the dot; null: ".txt", then kohya's ".caption"
 * @param prefix         put before every caption with a space (a trigger word); null or empty: none
 * @param suffix         put after every caption with a space; null or empty: none
 * @param shuffle        shuffle the comma-separated tags of each caption every time it is used
 * @param keepTokens     with shuffle: this many leading tags (the prefix counts as part of the first) stay in place
 */
public record CaptionOptions(String extension, String prefix, String suffix, boolean shuffle, int keepTokens) {
    public CaptionOptions {
        if (extension != null) {
            if (extension.isBlank() || extension.equals(".")) throw new DataException("caption extension '" + extension + "': empty");
            if (!extension.startsWith(".")) extension = "." + extension;
        }
        if (keepTokens < 0) throw new DataException("keep_tokens " + keepTokens + ": must be 0 or more");
    }

    public static CaptionOptions defaults() {
        return new CaptionOptions(null, null, null, false, 0);
    }

    public CaptionOptions withPrefix(String text) {
        return new CaptionOptions(extension, text, suffix, shuffle, keepTokens);
    }

    public CaptionOptions withShuffle(boolean on, int keep) {
        return new CaptionOptions(extension, prefix, suffix, on, keep);
    }
}
