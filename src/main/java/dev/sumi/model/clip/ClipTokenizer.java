package dev.sumi.model.clip;

import dev.sumi.model.ModelFormatException;
import dev.sumi.tensor.safetensors.Json;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.zip.GZIPInputStream;

/**
 * OpenAI's CLIP byte-level BPE (clip/simple_tokenizer.py) in Java: clean the text (HTML entities
 * unescaped twice, whitespace collapsed, lower case), split it with CLIP's regex, map each piece's
 * UTF-8 bytes to their printable stand-ins, and merge pairs by rank until no ranked pair is left,
 * the last symbol of a word carrying {@code </w>}. Reads the Hugging Face layout (vocab.json +
 * merges.txt) or OpenAI's {@code bpe_simple_vocab_16e6.txt.gz}.
 *
 * <p>Not reproduced: ftfy's repair of mis-decoded text (mojibake), which OpenAI runs first and which
 * leaves well-formed text unchanged apart from Unicode normalisation; sumi applies NFC instead.
 */
public final class ClipTokenizer {
    /** Tokens per encoder pass: BOS + 75 + EOS. */
    public static final int CONTEXT = 77;
    public static final int CHUNK_TOKENS = CONTEXT - 2;

    private final Map<String, Integer> encoder;
    private final Map<String, Integer> ranks;   // "first second" -> merge rank
    private final Map<String, String[]> cache = new ConcurrentHashMap<>();
    private final char[] byteChars = ClipText.byteToUnicode();
    public final int bos;
    public final int eos;

    private ClipTokenizer(Map<String, Integer> encoder, List<String[]> merges, String source) {
        this.encoder = encoder;
        this.ranks = new HashMap<>();
        for (int i = 0; i < merges.size(); i++) ranks.putIfAbsent(merges.get(i)[0] + " " + merges.get(i)[1], i);
        Integer b = encoder.get(ClipText.START_OF_TEXT), e = encoder.get(ClipText.END_OF_TEXT);
        if (b == null || e == null) throw new ModelFormatException(source + ": the vocabulary lacks <|startoftext|> or <|endoftext|>");
        this.bos = b;
        this.eos = e;
    }

    public int vocabSize() {
        return encoder.size();
    }

    /** From a Hugging Face tokenizer folder: {@code vocab.json} + {@code merges.txt}. */
    @SuppressWarnings("unchecked")
    public static ClipTokenizer fromHuggingFace(Path dir) throws IOException {
        Path vocab = dir.resolve("vocab.json"), mergesFile = dir.resolve("merges.txt");
        Object root;
        try {
            root = Json.parse(Files.readString(vocab, StandardCharsets.UTF_8));
        } catch (Json.ParseException e) {
            throw new ModelFormatException(vocab + ": not valid JSON: " + e.getMessage());
        }
        if (!(root instanceof Map<?, ?> m)) throw new ModelFormatException(vocab + ": not a JSON object of token -> id");
        Map<String, Integer> encoder = new HashMap<>();
        for (var en : ((Map<String, Object>) m).entrySet()) {
            if (!(en.getValue() instanceof Json.Num n)) throw new ModelFormatException(vocab + ": id of " + en.getKey() + " is not a number");
            encoder.put(en.getKey(), Integer.parseInt(n.text()));
        }
        List<String[]> merges = new ArrayList<>();
        for (String line : Files.readAllLines(mergesFile, StandardCharsets.UTF_8)) {
            if (line.startsWith("#version") || line.isBlank()) continue;
            String[] pair = line.split(" ");
            if (pair.length != 2) throw new ModelFormatException(mergesFile + ": bad merge line '" + line + "'");
            merges.add(pair);
        }
        return new ClipTokenizer(encoder, merges, dir.toString());
    }

    /** From OpenAI's {@code bpe_simple_vocab_16e6.txt.gz}: its first 48,894 merges, as CLIP uses. */
    public static ClipTokenizer fromOpenAiBpe(Path gz) throws IOException {
        List<String> lines;
        try (InputStream in = new GZIPInputStream(Files.newInputStream(gz))) {
            lines = Arrays.asList(new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n"));
        }
        List<String[]> merges = new ArrayList<>();
        for (String line : lines.subList(1, Math.min(lines.size(), 49152 - 256 - 2 + 1))) merges.add(line.split(" "));
        Map<String, Integer> encoder = new HashMap<>();
        char[] table = ClipText.vocabularyOrder();
        for (char c : table) encoder.put(String.valueOf(c), encoder.size());
        for (char c : table) encoder.put(c + ClipText.END_OF_WORD, encoder.size());
        for (String[] mg : merges) encoder.put(mg[0] + mg[1], encoder.size());
        encoder.put(ClipText.START_OF_TEXT, encoder.size());
        encoder.put(ClipText.END_OF_TEXT, encoder.size());
        return new ClipTokenizer(encoder, merges, gz.toString());
    }

    /** The token ids of {@code text}, without BOS/EOS. */
    public int[] encode(String text) {
        List<Integer> ids = new ArrayList<>();
        Matcher m = ClipText.PRE_SPLIT.matcher(ClipText.clean(ClipText.unescapeHtml(ClipText.unescapeHtml(text))));
        while (m.find()) {
            String piece = m.group();
            String word;
            if (piece.equals(ClipText.START_OF_TEXT) || piece.equals(ClipText.END_OF_TEXT)) {
                ids.add(encoder.get(piece));
                continue;
            }
            StringBuilder sb = new StringBuilder();
            for (byte b : piece.getBytes(StandardCharsets.UTF_8)) sb.append(byteChars[b & 0xff]);
            word = sb.toString();
            for (String symbol : bpe(word)) {
                Integer id = encoder.get(symbol);
                if (id == null) throw new IllegalStateException("BPE produced '" + symbol + "', which the vocabulary lacks");
                ids.add(id);
            }
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    private String[] bpe(String token) {
        String[] cached = cache.get(token);
        if (cached != null) return cached;
        List<String> word = new ArrayList<>();
        for (int i = 0; i < token.length() - 1; i++) word.add(String.valueOf(token.charAt(i)));
        word.add(token.charAt(token.length() - 1) + ClipText.END_OF_WORD);
        while (word.size() > 1) {
            int best = Integer.MAX_VALUE;
            String first = null, second = null;
            for (int i = 0; i + 1 < word.size(); i++) {
                Integer r = ranks.get(word.get(i) + " " + word.get(i + 1));
                if (r != null && r < best) {
                    best = r;
                    first = word.get(i);
                    second = word.get(i + 1);
                }
            }
            if (first == null) break;
            List<String> merged = new ArrayList<>(word.size());
            for (int i = 0; i < word.size(); i++) {
                if (i + 1 < word.size() && word.get(i).equals(first) && word.get(i + 1).equals(second)) {
                    merged.add(first + second);
                    i++;
                } else {
                    merged.add(word.get(i));
                }
            }
            word = merged;
        }
        String[] out = word.toArray(new String[0]);
        cache.put(token, out);
        return out;
    }

    /**
     * The text as kohya feeds long prompts to the encoder: at most {@code maxTokens} (75, 150 or 225)
     * tokens, cut into chunks of 75, each chunk [BOS, 75 tokens, EOS] padded with {@code pad}
     * (SD 1.x pads with EOS, SD 2.x with 0); the encoder runs once per chunk and the outputs are
     * concatenated. With {@code pad != eos} a chunk that is full ends with EOS, and a chunk that
     * starts with padding starts with EOS instead, as kohya does.
     */
    public int[][] encodeChunks(String text, int maxTokens, int pad) {
        if (maxTokens <= 0 || maxTokens % CHUNK_TOKENS != 0) {
            throw new IllegalArgumentException("max token length " + maxTokens + " is not 75, 150 or 225");
        }
        int[] tokens = encode(text);
        int[] full = new int[maxTokens + 2];
        Arrays.fill(full, pad);
        full[0] = bos;
        int n = Math.min(tokens.length, maxTokens);
        System.arraycopy(tokens, 0, full, 1, n);
        full[n + 1] = eos;
        if (n == maxTokens) full[maxTokens + 1] = eos;
        int chunks = maxTokens / CHUNK_TOKENS;
        int[][] out = new int[chunks][];
        for (int c = 0; c < chunks; c++) {
            int[] chunk = new int[CONTEXT];
            chunk[0] = bos;
            System.arraycopy(full, 1 + c * CHUNK_TOKENS, chunk, 1, CHUNK_TOKENS);
            chunk[CONTEXT - 1] = full[full.length - 1];
            if (pad != eos) {
                if (chunk[CONTEXT - 2] != eos && chunk[CONTEXT - 2] != pad) chunk[CONTEXT - 1] = eos;
                if (chunk[1] == pad) chunk[1] = eos;
            }
            out[c] = chunk;
        }
        return out;
    }

    /**
     * Finds the tokenizer of a model: {@code override} (a folder with vocab.json + merges.txt, or
     * OpenAI's .txt.gz); the model folder's {@code tokenizer/}; {@code <name>.tokenizer/} beside a
     * single-file checkpoint; the Hugging Face cache of openai/clip-vit-large-patch14. The error lists
     * every place it looked.
     */
    public static ClipTokenizer locate(Path model, Path override) throws IOException {
        List<Path> looked = new ArrayList<>();
        if (override != null) {
            if (Files.isRegularFile(override) && override.toString().endsWith(".gz")) return fromOpenAiBpe(override);
            if (Files.isRegularFile(override.resolve("vocab.json"))) return fromHuggingFace(override);
            throw new ModelFormatException(override + ": not a tokenizer (no vocab.json + merges.txt, not a .txt.gz BPE file)");
        }
        List<Path> candidates = new ArrayList<>();
        if (model != null) {
            if (Files.isDirectory(model)) candidates.add(model.resolve("tokenizer"));
            String name = model.getFileName().toString();
            candidates.add(model.resolveSibling((name.endsWith(".safetensors") ? name.substring(0, name.length() - 12) : name) + ".tokenizer"));
        }
        Path hub = huggingFaceHub();
        Path snapshots = hub.resolve("models--openai--clip-vit-large-patch14").resolve("snapshots");
        if (Files.isDirectory(snapshots)) {
            try (var s = Files.list(snapshots)) {
                s.sorted().forEach(candidates::add);
            }
        } else {
            candidates.add(snapshots.resolve("<revision>"));
        }
        for (Path c : candidates) {
            looked.add(c);
            if (Files.isRegularFile(c.resolve("vocab.json")) && Files.isRegularFile(c.resolve("merges.txt"))) return fromHuggingFace(c);
        }
        throw new ModelFormatException("no CLIP tokenizer found (looked in " + looked + "); pass --tokenizer DIR with vocab.json and merges.txt");
    }

    /** The Hugging Face hub cache: -Dsumi.hf.hub (tests), HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub. */
    static Path huggingFaceHub() {
        String property = System.getProperty("sumi.hf.hub");
        if (property != null) return Path.of(property);
        String cache = System.getenv("HF_HUB_CACHE");
        if (cache != null && !cache.isBlank()) return Path.of(cache);
        String home = System.getenv("HF_HOME");
        if (home != null && !home.isBlank()) return Path.of(home, "hub");
        return Path.of(System.getProperty("user.home"), ".cache", "huggingface", "hub");
    }
}
