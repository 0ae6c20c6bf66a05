package dev.sumi.cli;

import dev.sumi.model.clip.ClipTokenizer;
import dev.sumi.model.clip.LongPromptEncoder;
import dev.sumi.model.clip.TextEncoderConfig;
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
@Command(name = "tokenize", description = "Print the CLIP token ids and count of TEXT (75 tokens per chunk), and with --max-token-length the encoder's chunks.")
public final class TokenizeCommand implements Callable<Integer> {

    @Parameters(paramLabel = "TEXT", description = "The prompt or caption.")
    String text;

    @Option(names = "--model", description = "A checkpoint or diffusers folder whose tokenizer to use.")
    Path model;

    @Option(names = "--tokenizer", description = "A folder with vocab.json + merges.txt, or OpenAI's bpe_simple_vocab_16e6.txt.gz.")
    Path tokenizer;

    @Option(names = "--max-token-length", paramLabel = "N",
            description = "Also show the 77-id chunks the encoder gets, as kohya's --max_token_length N (75, 150 or 225) builds them.")
    Integer maxTokenLength;

    @Option(names = "--sd2", description = "With --max-token-length: pad as SD 2.x's tokenizer does (\"!\", id 0) instead of SD 1.x's <|endoftext|>.")
    boolean sd2;

    @Option(names = "--json", description = "One JSON object.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ClipTokenizer t = ClipTokenizer.locate(model, tokenizer);
        int[] ids = t.encode(text);
        int chunks = Math.max(1, (ids.length + ClipTokenizer.CHUNK_TOKENS - 1) / ClipTokenizer.CHUNK_TOKENS);
        int[][] encoderChunks = null;
        if (maxTokenLength != null) {
            LongPromptEncoder.chunks(maxTokenLength);   // a one-line error for anything but 75, 150, 225
            int pad = LongPromptEncoder.padToken(t, sd2 ? TextEncoderConfig.Layout.OPEN_CLIP : TextEncoderConfig.Layout.HF_CLIP);
            encoderChunks = t.encodeChunks(text, maxTokenLength, pad);
        }
        if (json) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("tokens", ids.length);
            m.put("chunks", chunks);
            m.put("ids", Arrays.stream(ids).boxed().toList());
            if (encoderChunks != null) {
                m.put("max_token_length", maxTokenLength);
                m.put("encoder_chunks", Arrays.stream(encoderChunks).map(c -> Arrays.stream(c).boxed().toList()).toList());
            }
            System.out.println(JsonOut.write(m));
            return 0;
        }
        System.out.println(ids.length + " tokens" + (ids.length > ClipTokenizer.CHUNK_TOKENS
                ? " (over 75: " + chunks + " chunks; kohya's --max-token-length " + Math.min(225, chunks * 75) + " keeps " + Math.min(ids.length, 225) + ")" : ""));
        System.out.println(Arrays.toString(ids));
        if (encoderChunks != null) {
            System.out.println("max token length " + maxTokenLength + ": " + encoderChunks.length + " chunks of 77 ids (BOS, 75, EOS or pad)"
                    + (ids.length > maxTokenLength ? ", " + (ids.length - maxTokenLength) + " tokens cut" : "") + "; context of "
                    + LongPromptEncoder.contextTokens(maxTokenLength) + " tokens");
            for (int c = 0; c < encoderChunks.length; c++) System.out.println("chunk " + (c + 1) + ": " + Arrays.toString(encoderChunks[c]));
        }
        return 0;
    }
}
