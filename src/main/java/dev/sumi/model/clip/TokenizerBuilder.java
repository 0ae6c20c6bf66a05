package dev.sumi.model.clip;

import dev.sumi.util.AtomicFiles;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Learns a small CLIP-style BPE vocabulary from text and writes it in the Hugging Face layout
 * ({@code vocab.json} + {@code merges.txt}) that real SD tokenizers use, so the embedded tiny model
 * is tokenized by exactly the code that tokenizes a real one. Vocabulary order follows CLIP: the 256
 * byte characters, the same with {@code </w>}, one token per merge, then the two special tokens.
 */
public final class TokenizerBuilder {
    private TokenizerBuilder() {}

    public record Bpe(List<String[]> merges, Map<String, Integer> vocab) {
        public int size() {
            return vocab.size();
        }
    }

    /** The vocabulary learnt from the corpus bundled with sumi (captions of the demo's kind). */
    public static Bpe tiny(int maxMerges) {
        try (InputStream in = TokenizerBuilder.class.getResourceAsStream("tiny-corpus.txt")) {
            if (in == null) throw new IllegalStateException("tiny-corpus.txt is missing from the jar");
            return learn(new String(in.readAllBytes(), StandardCharsets.UTF_8), maxMerges);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read tiny-corpus.txt", e);
        }
    }

    /** Up to {@code maxMerges} merges, most frequent pair first, ties broken by the pair's text. */
    public static Bpe learn(String corpus, int maxMerges) {
        Map<String, Integer> wordCounts = new HashMap<>();
        for (String w : ClipText.words(corpus)) wordCounts.merge(w, 1, Integer::sum);
        List<List<String>> words = new ArrayList<>();
        List<Integer> counts = new ArrayList<>();
        wordCounts.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
            List<String> symbols = new ArrayList<>();
            String w = e.getKey();
            for (int i = 0; i < w.length(); i++) symbols.add(i == w.length() - 1 ? w.charAt(i) + ClipText.END_OF_WORD : String.valueOf(w.charAt(i)));
            words.add(symbols);
            counts.add(e.getValue());
        });
        List<String[]> merges = new ArrayList<>();
        while (merges.size() < maxMerges) {
            Map<String, Integer> pairs = new HashMap<>();
            for (int i = 0; i < words.size(); i++) {
                List<String> s = words.get(i);
                for (int j = 0; j + 1 < s.size(); j++) pairs.merge(s.get(j) + " " + s.get(j + 1), counts.get(i), Integer::sum);
            }
            String best = null;
            int bestCount = 1;   // a pair seen once teaches nothing
            for (var e : pairs.entrySet()) {
                if (e.getValue() > bestCount || (e.getValue() == bestCount && best != null && e.getKey().compareTo(best) < 0)) {
                    best = e.getKey();
                    bestCount = e.getValue();
                }
            }
            if (best == null) break;
            String[] pair = best.split(" ", 2);
            merges.add(pair);
            for (List<String> s : words) {
                for (int j = 0; j + 1 < s.size(); j++) {
                    if (s.get(j).equals(pair[0]) && s.get(j + 1).equals(pair[1])) {
                        s.set(j, pair[0] + pair[1]);
                        s.remove(j + 1);
                    }
                }
            }
        }
        Map<String, Integer> vocab = new LinkedHashMap<>();
        char[] table = ClipText.vocabularyOrder();
        for (char c : table) vocab.put(String.valueOf(c), vocab.size());
        for (char c : table) vocab.put(c + ClipText.END_OF_WORD, vocab.size());
        for (String[] m : merges) vocab.putIfAbsent(m[0] + m[1], vocab.size());
        vocab.put(ClipText.START_OF_TEXT, vocab.size());
        vocab.put(ClipText.END_OF_TEXT, vocab.size());
        return new Bpe(merges, vocab);
    }

    /** Writes {@code vocab.json} and {@code merges.txt} into {@code dir} (created), each atomically. */
    public static void write(Bpe bpe, Path dir) throws IOException {
        Files.createDirectories(dir);
        StringBuilder json = new StringBuilder("{");
        boolean first = true;
        for (var e : bpe.vocab().entrySet()) {
            if (!first) json.append(',');
            first = false;
            json.append('"');
            for (char c : e.getKey().toCharArray()) {
                if (c == '"' || c == '\\') json.append('\\').append(c);
                else if (c < 0x20 || c == 0x7f) json.append(String.format("\\u%04x", (int) c));
                else json.append(c);
            }
            json.append("\":").append(e.getValue());
        }
        json.append('}');
        StringBuilder merges = new StringBuilder("#version: 0.2\n");
        for (String[] m : bpe.merges()) merges.append(m[0]).append(' ').append(m[1]).append('\n');
        AtomicFiles.writeString(dir.resolve("vocab.json"), json.toString(), true);
        AtomicFiles.writeString(dir.resolve("merges.txt"), merges.toString(), true);
    }
}
