package dev.sumi.image;

import dev.sumi.data.RgbImage;
import dev.sumi.util.AtomicFiles;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetEncoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * 8-bit RGB PNG files with text chunks, written the way Pillow writes them, because AUTOMATIC1111's "PNG Info" tab
 * reads the generation parameters from Pillow's {@code image.info["parameters"]} (modules/images.py
 * save_image_with_geninfo: {@code PngInfo.add_text(key, value)} per entry).
 *
 * <p>Layout: signature, IHDR (8-bit, color type 2, no interlace), one text chunk per entry in the map's iteration
 * order, one IDAT (zlib stream of filtered rows), IEND. A text entry becomes {@code tEXt} (key NUL value, Latin-1)
 * when the value is Latin-1 encodable, else an uncompressed {@code iTXt} (key NUL 0 0 NUL NUL value as UTF-8), exactly
 * Pillow's PngInfo.add_text / add_itxt. Rows are filtered per row with the filter (None, Sub, Up, Average, Paeth) of
 * least sum of absolute values, libpng's heuristic.
 */
public final class PngFile {
    private PngFile() {}

    private static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    /** The PNG spec's keyword limit (1 to 79 Latin-1 characters). */
    private static final int MAX_KEY_LENGTH = 79;
    /** Largest text value inflated from one zTXt / iTXt chunk; bigger ones are refused (a zip bomb guard). */
    private static final int MAX_INFLATED_TEXT = 16 << 20;

    /** The PNG of {@code image} with {@code text} as tEXt / iTXt chunks (in the map's iteration order). */
    public static byte[] encode(RgbImage image, Map<String, String> text) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(image.rgb().length / 2 + 1024);
        out.writeBytes(SIGNATURE);
        ByteBuffer ihdr = ByteBuffer.allocate(13)
                .putInt(image.width()).putInt(image.height())
                .put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0);
        writeChunk(out, "IHDR", ihdr.array());
        for (Map.Entry<String, String> e : text.entrySet()) writeTextChunk(out, e.getKey(), e.getValue());
        writeChunk(out, "IDAT", deflate(filterRows(image)));
        writeChunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    /**
     * The text entries of a PNG: tEXt and zTXt (Latin-1) and iTXt (UTF-8, compressed or not), in file order; a key
     * seen twice keeps its last value, as Pillow's {@code image.info}. Every chunk's CRC is checked.
     *
     * @throws IOException naming the reason: not a PNG, truncated, CRC mismatch, a malformed text chunk
     */
    public static Map<String, String> readText(byte[] png) throws IOException {
        if (png.length < SIGNATURE.length || !ByteBuffer.wrap(png, 0, 8).equals(ByteBuffer.wrap(SIGNATURE)))
            throw new IOException("not a PNG file: the first 8 bytes are not the PNG signature");
        Map<String, String> text = new LinkedHashMap<>();
        CRC32 crc = new CRC32();
        int pos = SIGNATURE.length;
        while (true) {
            if (png.length - pos < 12)
                throw new IOException("PNG truncated at byte " + pos + ": no IEND chunk");
            long length = ByteBuffer.wrap(png, pos, 4).getInt() & 0xffffffffL;
            String type = new String(png, pos + 4, 4, StandardCharsets.ISO_8859_1);
            if (length > png.length - pos - 12L)
                throw new IOException("PNG truncated: chunk '" + type + "' at byte " + pos + " declares " + length
                        + " bytes, " + (png.length - pos - 12) + " left");
            int data = pos + 8;
            int end = data + (int) length;
            crc.reset();
            crc.update(png, pos + 4, 4 + (int) length);
            long stored = ByteBuffer.wrap(png, end, 4).getInt() & 0xffffffffL;
            if (stored != crc.getValue())
                throw new IOException(String.format("PNG chunk '%s' at byte %d: CRC mismatch (stored %08x, computed %08x)",
                        type, pos, stored, crc.getValue()));
            switch (type) {
                case "tEXt" -> putText(text, readTEXt(png, data, end));
                case "zTXt" -> putText(text, readZTXt(png, data, end));
                case "iTXt" -> putText(text, readITXt(png, data, end));
                default -> {}
            }
            if (type.equals("IEND")) return text;
            pos = end + 4;
        }
    }

    /**
     * Writes {@code dir/baseName.png} atomically and never over an existing file: the bytes go to a temp file in
     * {@code dir} (fsync'd), which is then hard-linked to the final name; link(2) fails when the name exists, even
     * when another writer creates it at the same moment. Where the file system has no hard links, the name is first
     * claimed with an exclusive create (O_EXCL) and the temp file is renamed over that placeholder.
     *
     * @return the written file
     * @throws FileAlreadyExistsException naming the file when it exists (it is left untouched)
     */
    public static Path writeNew(Path dir, String baseName, RgbImage img, Map<String, String> text) throws IOException {
        if (baseName.isEmpty() || baseName.contains("/") || baseName.contains("\\") || baseName.startsWith("."))
            throw new IllegalArgumentException("PNG base name '" + baseName + "': must be a plain file name not starting with '.'");
        Path file = dir.resolve(baseName + ".png");
        AtomicFiles.writeNew(file, encode(img, text));
        return file;
    }

    /** {@code dir/base.png}, or {@code base-1.png}, {@code base-2.png}, ... when taken: never replaces a file. */
    public static Path writeUnique(Path dir, String baseName, RgbImage img, Map<String, String> text) throws IOException {
        for (int i = 0; ; i++) {
            try {
                return writeNew(dir, i == 0 ? baseName : baseName + "-" + i, img, text);
            } catch (FileAlreadyExistsException e) {
                if (i >= 999) throw e;
            }
        }
    }

    // ---- writing ----

    private static void writeTextChunk(ByteArrayOutputStream out, String key, String value) {
        byte[] keyBytes = latin1(key);
        if (keyBytes == null || key.isEmpty() || key.length() > MAX_KEY_LENGTH || key.indexOf('\0') >= 0)
            throw new IllegalArgumentException("PNG text key '" + key + "': must be 1 to 79 Latin-1 characters without NUL");
        if (value == null) throw new IllegalArgumentException("PNG text key '" + key + "': null value");
        byte[] latin1Value = latin1(value);
        ByteArrayOutputStream chunk = new ByteArrayOutputStream(keyBytes.length + value.length() + 8);
        chunk.writeBytes(keyBytes);
        chunk.write(0);
        if (latin1Value != null) {
            chunk.writeBytes(latin1Value);
            writeChunk(out, "tEXt", chunk.toByteArray());
        } else {
            // compression flag 0, method 0, empty language tag, empty translated keyword
            chunk.writeBytes(new byte[] {0, 0, 0, 0});
            chunk.writeBytes(value.getBytes(StandardCharsets.UTF_8));
            writeChunk(out, "iTXt", chunk.toByteArray());
        }
    }

    /** Latin-1 bytes of s, or null when s has a character outside Latin-1. */
    private static byte[] latin1(String s) {
        CharsetEncoder enc = StandardCharsets.ISO_8859_1.newEncoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            ByteBuffer b = enc.encode(CharBuffer.wrap(s));
            byte[] bytes = new byte[b.remaining()];
            b.get(bytes);
            return bytes;
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    private static void writeChunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] typeBytes = type.getBytes(StandardCharsets.ISO_8859_1);
        CRC32 crc = new CRC32();
        crc.update(typeBytes);
        crc.update(data);
        out.writeBytes(ByteBuffer.allocate(4).putInt(data.length).array());
        out.writeBytes(typeBytes);
        out.writeBytes(data);
        out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }

    /** The filtered scanlines: per row one filter-type byte, then width * 3 filtered bytes. */
    private static byte[] filterRows(RgbImage image) {
        int stride = Math.multiplyExact(image.width(), 3);
        int h = image.height();
        byte[] rgb = image.rgb(); // (h, w, 3)
        byte[] out = new byte[Math.multiplyExact(stride + 1, h)]; // (h, 1 + w*3)
        byte[][] candidates = new byte[5][stride]; // (filter, w*3)
        for (int y = 0; y < h; y++) {
            int row = y * stride;
            int prev = row - stride; // the row above, or < 0 for the first row (treated as zeros)
            int best = 0;
            long bestCost = Long.MAX_VALUE;
            for (int f = 0; f < 5; f++) {
                byte[] c = candidates[f];
                long cost = 0;
                for (int i = 0; i < stride; i++) {
                    int x = rgb[row + i] & 0xff;
                    int a = i >= 3 ? rgb[row + i - 3] & 0xff : 0;
                    int b = prev >= 0 ? rgb[prev + i] & 0xff : 0;
                    int cc = i >= 3 && prev >= 0 ? rgb[prev + i - 3] & 0xff : 0;
                    int predicted = switch (f) {
                        case 0 -> 0;
                        case 1 -> a;
                        case 2 -> b;
                        case 3 -> (a + b) >>> 1;
                        default -> paeth(a, b, cc);
                    };
                    byte v = (byte) (x - predicted);
                    c[i] = v;
                    cost += Math.abs((int) v); // the signed-byte sum, libpng's minimum-sum-of-absolute-differences
                }
                if (cost < bestCost) {
                    bestCost = cost;
                    best = f;
                }
            }
            int o = y * (stride + 1);
            out[o] = (byte) best;
            System.arraycopy(candidates[best], 0, out, o + 1, stride);
        }
        return out;
    }

    private static int paeth(int a, int b, int c) {
        int p = a + b - c;
        int pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        if (pa <= pb && pa <= pc) return a;
        return pb <= pc ? b : c;
    }

    private static byte[] deflate(byte[] raw) {
        Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION);
        try {
            deflater.setInput(raw);
            deflater.finish();
            ByteArrayOutputStream out = new ByteArrayOutputStream(raw.length / 2 + 64);
            byte[] buf = new byte[1 << 16];
            while (!deflater.finished()) out.write(buf, 0, deflater.deflate(buf));
            return out.toByteArray();
        } finally {
            deflater.end();
        }
    }

    // ---- reading ----

    private record Entry(String key, String value) {}

    private static void putText(Map<String, String> text, Entry e) {
        text.put(e.key(), e.value()); // a repeated key keeps its first place and takes the last value, as a Python dict
    }

    private static int indexOfNul(byte[] b, int from, int end) {
        for (int i = from; i < end; i++) if (b[i] == 0) return i;
        return -1;
    }

    private static String keyword(byte[] png, int data, int nul, String type) throws IOException {
        if (nul < 0 || nul == data) throw new IOException("PNG " + type + " chunk without a keyword");
        return new String(png, data, nul - data, StandardCharsets.ISO_8859_1);
    }

    private static Entry readTEXt(byte[] png, int data, int end) throws IOException {
        int nul = indexOfNul(png, data, end);
        String key = keyword(png, data, nul, "tEXt");
        return new Entry(key, new String(png, nul + 1, end - nul - 1, StandardCharsets.ISO_8859_1));
    }

    private static Entry readZTXt(byte[] png, int data, int end) throws IOException {
        int nul = indexOfNul(png, data, end);
        String key = keyword(png, data, nul, "zTXt");
        if (nul + 1 >= end || png[nul + 1] != 0)
            throw new IOException("PNG zTXt chunk '" + key + "': unknown compression method");
        return new Entry(key, new String(inflate(png, nul + 2, end, "zTXt", key), StandardCharsets.ISO_8859_1));
    }

    private static Entry readITXt(byte[] png, int data, int end) throws IOException {
        int nul = indexOfNul(png, data, end);
        String key = keyword(png, data, nul, "iTXt");
        int p = nul + 1;
        if (end - p < 2) throw new IOException("PNG iTXt chunk '" + key + "': no compression fields");
        int compressed = png[p], method = png[p + 1];
        p += 2;
        int langEnd = indexOfNul(png, p, end);
        int tkeyEnd = langEnd < 0 ? -1 : indexOfNul(png, langEnd + 1, end);
        if (tkeyEnd < 0) throw new IOException("PNG iTXt chunk '" + key + "': language tag or translated keyword not terminated");
        byte[] value;
        if (compressed == 0) value = Arrays.copyOfRange(png, tkeyEnd + 1, end);
        else if (method == 0) value = inflate(png, tkeyEnd + 1, end, "iTXt", key);
        else throw new IOException("PNG iTXt chunk '" + key + "': unknown compression method " + method);
        try {
            return new Entry(key, StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(value)).toString());
        } catch (CharacterCodingException e) {
            throw new IOException("PNG iTXt chunk '" + key + "': value is not valid UTF-8");
        }
    }

    private static byte[] inflate(byte[] png, int from, int end, String type, String key) throws IOException {
        Inflater inflater = new Inflater();
        try {
            inflater.setInput(png, from, end - from);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[1 << 16];
            while (!inflater.finished()) {
                int n = inflater.inflate(buf);
                if (n == 0 && (inflater.needsInput() || inflater.needsDictionary()))
                    throw new IOException("PNG " + type + " chunk '" + key + "': truncated zlib stream");
                out.write(buf, 0, n);
                if (out.size() > MAX_INFLATED_TEXT)
                    throw new IOException("PNG " + type + " chunk '" + key + "': text inflates past " + MAX_INFLATED_TEXT + " bytes");
            }
            return out.toByteArray();
        } catch (DataFormatException e) {
            throw new IOException("PNG " + type + " chunk '" + key + "': bad zlib data (" + e.getMessage() + ")");
        } finally {
            inflater.end();
        }
    }
}
