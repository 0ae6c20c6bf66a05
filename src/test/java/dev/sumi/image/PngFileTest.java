package dev.sumi.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sumi.data.RgbImage;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.stream.ImageInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Node;

class PngFileTest {
    @TempDir
    Path dir;

    static RgbImage noise(int w, int h, long seed) {
        byte[] rgb = new byte[w * h * 3];
        new Random(seed).nextBytes(rgb);
        // smooth gradients in the first rows so the Sub/Up/Average/Paeth filters all get picked somewhere
        for (int y = 0; y < Math.min(h, 4); y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) rgb[(y * w + x) * 3 + c] = (byte) (x * (c + 1) + y * 7);
        return new RgbImage(w, h, rgb);
    }

    private static void assertPixelsEqual(RgbImage expected, BufferedImage actual) {
        assertEquals(expected.width(), actual.getWidth());
        assertEquals(expected.height(), actual.getHeight());
        for (int y = 0; y < expected.height(); y++)
            for (int x = 0; x < expected.width(); x++) {
                int rgb = actual.getRGB(x, y);
                assertEquals(expected.sample(x, y, 0), rgb >> 16 & 0xff, "R at " + x + "," + y);
                assertEquals(expected.sample(x, y, 1), rgb >> 8 & 0xff, "G at " + x + "," + y);
                assertEquals(expected.sample(x, y, 2), rgb & 0xff, "B at " + x + "," + y);
            }
    }

    @Test
    void imageIoReadsTheSamePixels() throws IOException {
        for (int[] size : new int[][] {{1, 1}, {37, 23}, {64, 3}, {2, 50}}) {
            RgbImage image = noise(size[0], size[1], size[0] * 31L + size[1]);
            byte[] png = PngFile.encode(image, Map.of());
            assertPixelsEqual(image, ImageIO.read(new ByteArrayInputStream(png)));
        }
    }

    @Test
    void smoothImagesCompress() {
        RgbImage gradient = new RgbImage(256, 256, new byte[256 * 256 * 3]);
        for (int y = 0; y < 256; y++)
            for (int x = 0; x < 256; x++) {
                gradient.rgb()[(y * 256 + x) * 3] = (byte) x;
                gradient.rgb()[(y * 256 + x) * 3 + 1] = (byte) y;
                gradient.rgb()[(y * 256 + x) * 3 + 2] = (byte) (x + y);
            }
        int size = PngFile.encode(gradient, Map.of()).length;
        assertTrue(size < 4000, "a 256x256 gradient takes " + size + " bytes; row filters should make it tiny");
    }

    @Test
    void textRoundTripsAsciiLatin1AndJapanese() throws IOException {
        Map<String, String> text = new LinkedHashMap<>();
        text.put("parameters", "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64");
        text.put("latin", "café, naïve, ½");
        text.put("japanese", "猫の絵, 桜 🌸");
        byte[] png = PngFile.encode(noise(5, 4, 1), text);
        Map<String, String> read = PngFile.readText(png);
        assertEquals(text, read);
        assertEquals(List.copyOf(text.keySet()), List.copyOf(read.keySet()), "chunk order is the map's order");
        // chunk kinds as Pillow's PngInfo.add_text picks them
        assertEquals(List.of("IHDR", "tEXt", "tEXt", "iTXt", "IDAT", "IEND"), chunkTypes(png));
    }

    @Test
    void textChunksAreBytewisePillows() {
        byte[] png = PngFile.encode(noise(1, 1, 2), new LinkedHashMap<>(Map.of("k", "é")));
        // tEXt: "k" NUL then the value in Latin-1
        assertArrayEquals(new byte[] {'k', 0, (byte) 0xe9}, chunkData(png, 1));
        png = PngFile.encode(noise(1, 1, 2), Map.of("k", "猫"));
        // iTXt: key NUL, compression flag 0, method 0, empty language NUL, empty translated key NUL, UTF-8 value
        assertArrayEquals(new byte[] {'k', 0, 0, 0, 0, 0, (byte) 0xe7, (byte) 0x8c, (byte) 0xab}, chunkData(png, 1));
    }

    @Test
    void imageIoSeesTheTextChunks() throws IOException {
        Map<String, String> text = new LinkedHashMap<>();
        text.put("parameters", "Steps: 20, Seed: 5");
        text.put("comment", "日本語のテキスト");
        byte[] png = PngFile.encode(noise(3, 3, 3), text);
        Map<String, String> seen = new LinkedHashMap<>();
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(png))) {
            ImageReader reader = ImageIO.getImageReaders(in).next();
            reader.setInput(in);
            IIOMetadata meta = reader.getImageMetadata(0);
            Node root = meta.getAsTree("javax_imageio_png_1.0");
            for (Node n = root.getFirstChild(); n != null; n = n.getNextSibling())
                for (Node e = n.getFirstChild(); e != null; e = e.getNextSibling()) {
                    var attrs = e.getAttributes();
                    if (e.getNodeName().equals("tEXtEntry"))
                        seen.put(attrs.getNamedItem("keyword").getNodeValue(), attrs.getNamedItem("value").getNodeValue());
                    if (e.getNodeName().equals("iTXtEntry"))
                        seen.put(attrs.getNamedItem("keyword").getNodeValue(), attrs.getNamedItem("text").getNodeValue());
                }
            reader.dispose();
        }
        assertEquals(text, seen);
    }

    @Test
    void readsZtxtAndCompressedItxt() throws IOException {
        byte[] plain = PngFile.encode(noise(2, 2, 4), Map.of());
        ByteArrayOutputStream z = new ByteArrayOutputStream();
        z.writeBytes("zkey".getBytes(StandardCharsets.ISO_8859_1));
        z.writeBytes(new byte[] {0, 0});
        z.writeBytes(zlib("Grüße".getBytes(StandardCharsets.ISO_8859_1)));
        ByteArrayOutputStream i = new ByteArrayOutputStream();
        i.writeBytes("ikey".getBytes(StandardCharsets.ISO_8859_1));
        i.writeBytes(new byte[] {0, 1, 0});
        i.writeBytes("ja".getBytes(StandardCharsets.UTF_8));
        i.write(0);
        i.writeBytes("キー".getBytes(StandardCharsets.UTF_8));
        i.write(0);
        i.writeBytes(zlib("圧縮された値".getBytes(StandardCharsets.UTF_8)));
        byte[] png = insertAfterIhdr(plain, chunk("zTXt", z.toByteArray()), chunk("iTXt", i.toByteArray()));
        assertEquals(Map.of("zkey", "Grüße", "ikey", "圧縮された値"), PngFile.readText(png));
    }

    @Test
    void badFilesFailNamingTheReason() {
        byte[] png = PngFile.encode(noise(4, 4, 5), Map.of("parameters", "x"));
        IOException e = assertThrows(IOException.class, () -> PngFile.readText("GIF89a..".getBytes(StandardCharsets.US_ASCII)));
        assertTrue(e.getMessage().contains("not a PNG"), e.getMessage());

        byte[] flipped = png.clone();
        flipped[8 + 25 + 8 + 2] ^= 1; // a byte of the tEXt chunk's data (after signature and IHDR)
        e = assertThrows(IOException.class, () -> PngFile.readText(flipped));
        assertTrue(e.getMessage().contains("CRC mismatch") && e.getMessage().contains("tEXt"), e.getMessage());

        byte[] cut = java.util.Arrays.copyOf(png, png.length - 20);
        e = assertThrows(IOException.class, () -> PngFile.readText(cut));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void badKeysAreRefused() {
        RgbImage img = noise(1, 1, 6);
        for (String key : new String[] {"", "x".repeat(80), "鍵", "a\0b"})
            assertThrows(IllegalArgumentException.class, () -> PngFile.encode(img, Map.of(key, "v")), key);
        PngFile.encode(img, Map.of("x".repeat(79), "v"));
    }

    @Test
    void writeNewNeverOverwrites() throws IOException {
        RgbImage first = noise(6, 5, 7), second = noise(6, 5, 8);
        Path file = PngFile.writeNew(dir, "out", first, Map.of("parameters", "one"));
        assertEquals(dir.resolve("out.png"), file);
        byte[] before = Files.readAllBytes(file);
        FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class,
                () -> PngFile.writeNew(dir, "out", second, Map.of("parameters", "two")));
        assertTrue(e.getMessage().contains("out.png"), e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(file));
        assertPixelsEqual(first, ImageIO.read(file.toFile()));
        assertEquals(Map.of("parameters", "one"), PngFile.readText(Files.readAllBytes(file)));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList(), "no temp file left behind");
        }
    }

    @Test
    void concurrentWritersOfOneNameLeaveOneIntactFile() throws Exception {
        int writers = 8;
        ExecutorService pool = Executors.newFixedThreadPool(writers);
        CountDownLatch start = new CountDownLatch(1);
        List<Future<Path>> results = new ArrayList<>();
        try {
            for (int w = 0; w < writers; w++) {
                String value = "writer " + w;
                results.add(pool.submit(() -> {
                    start.await();
                    return PngFile.writeNew(dir, "same", noise(40, 40, 9), Map.of("parameters", value));
                }));
            }
            start.countDown();
            int won = 0;
            for (Future<Path> f : results) {
                try {
                    f.get();
                    won++;
                } catch (java.util.concurrent.ExecutionException e) {
                    assertTrue(e.getCause() instanceof FileAlreadyExistsException, e.getCause().toString());
                }
            }
            assertEquals(1, won);
        } finally {
            pool.shutdownNow();
        }
        String value = PngFile.readText(Files.readAllBytes(dir.resolve("same.png"))).get("parameters");
        assertTrue(value.startsWith("writer "), value);
    }

    @Test
    void noHardLinkFallbackAlsoRefusesExistingNames() throws IOException {
        Path tmp = Files.write(dir.resolve(".t.tmp"), new byte[] {1, 2, 3});
        Path target = dir.resolve("fallback.png");
        dev.sumi.util.AtomicFiles.claimThenReplace(target, tmp);
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(target));
        Path tmp2 = Files.write(dir.resolve(".u.tmp"), new byte[] {4});
        assertThrows(FileAlreadyExistsException.class, () -> dev.sumi.util.AtomicFiles.claimThenReplace(target, tmp2));
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(target));
    }

    @Test
    void baseNamesMustBePlainFileNames() {
        RgbImage img = noise(1, 1, 10);
        for (String name : new String[] {"", "a/b", "..", ".hidden"})
            assertThrows(IllegalArgumentException.class, () -> PngFile.writeNew(dir, name, img, Map.of()), name);
    }

    // ---- helpers: a PNG's chunks, built and taken apart independently of PngFile ----

    static List<String> chunkTypes(byte[] png) {
        List<String> types = new ArrayList<>();
        for (int pos = 8; pos < png.length; ) {
            int len = ByteBuffer.wrap(png, pos, 4).getInt();
            types.add(new String(png, pos + 4, 4, StandardCharsets.ISO_8859_1));
            pos += 12 + len;
        }
        return types;
    }

    /** The data of the index-th chunk (0 = IHDR). */
    static byte[] chunkData(byte[] png, int index) {
        int pos = 8;
        for (int i = 0; i < index; i++) pos += 12 + ByteBuffer.wrap(png, pos, 4).getInt();
        int len = ByteBuffer.wrap(png, pos, 4).getInt();
        return java.util.Arrays.copyOfRange(png, pos + 8, pos + 8 + len);
    }

    static byte[] chunk(String type, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(12 + data.length);
        b.putInt(data.length).put(type.getBytes(StandardCharsets.ISO_8859_1)).put(data);
        CRC32 crc = new CRC32();
        crc.update(b.array(), 4, 4 + data.length);
        return b.putInt((int) crc.getValue()).array();
    }

    static byte[] insertAfterIhdr(byte[] png, byte[]... chunks) {
        int at = 8 + 25;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(png, 0, at);
        for (byte[] c : chunks) out.writeBytes(c);
        out.write(png, at, png.length - at);
        return out.toByteArray();
    }

    static byte[] zlib(byte[] data) {
        Deflater d = new Deflater();
        d.setInput(data);
        d.finish();
        byte[] buf = new byte[data.length + 64];
        int n = d.deflate(buf);
        d.end();
        return java.util.Arrays.copyOf(buf, n);
    }
}
