package dev.sumi.cli;

import dev.sumi.model.clip.ClipTokenizer;
import dev.sumi.util.JsonOut;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** Token ids and count of a prompt or caption: users check it against the 75-token chunk limit. */
@Command(name = "tokenize", description = "Print the CLIP token ids and count of TEXT (75 tokens per chunk).")
public final class TokenizeCommand implements Callable<Integer> {

    @Parameters(paramLabel = "TEXT", description = "The prompt or caption.")
    String text;

    @Option(names = "--model", description = "A checkpoint or diffusers folder whose tokenizer to use.")
    Path model;

    @Option(names = "--tokenizer", description = "A folder with vocab.json + merges.txt, or OpenAI's bpe_simple_vocab_16e6.txt.gz.")
    Path tokenizer;

    @Option(names = "--json", description = "One JSON object.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ClipTokenizer t = ClipTokenizer.locate(model, tokenizer);
        int[] ids = t.encode(text);
        int chunks = Math.max(1, (ids.length + ClipTokenizer.CHUNK_TOKENS - 1) / ClipTokenizer.CHUNK_TOKENS);
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("tokens", ids.length);
            m.put("chunks", chunks);
            m.put("ids", Arrays.stream(ids).boxed().toList());
            System.out.println(JsonOut.write(m));
            return 0;
        }
        System.out.println(ids.length + " tokens" + (ids.length > ClipTokenizer.CHUNK_TOKENS
                ? " (over 75: " + chunks + " chunks; kohya's --max-token-length " + Math.min(225, chunks * 75) + " keeps " + Math.min(ids.length, 225) + ")" : ""));
        System.out.println(Arrays.toString(ids));
        return 0;
    }
}
