package dev.sumi.tensor.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static dev.sumi.tensor.safetensors.Fixtures.file;
import static dev.sumi.tensor.safetensors.Fixtures.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafeTensorsRoundTripTest {

    @TempDir
    Path dir;

    /** Values every type holds exactly, so a round trip must return them bit for bit. */
    private static float[] exactValues(StoredType t) {
        if (t == StoredType.BOOL) return new float[]{0, 1, 1, 0, 1, 0};
        if (!t.isFloatingPoint()) {
            boolean signed = t.name().startsWith("I");
            return new float[]{0, 1, 2, signed ? -3 : 3, 100, t.byteSize() >= 2 ? 1000 : 7};
        }
        return new float[]{0, 1, -2, 0.5f, 3, -0.25f};
    }

    @Test
    void everyTypeRoundTripsWithMetadataEmptyAndScalarTensors() throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter()
                .metadata("format", "pt")
                .metadata("ss_note", "quotes \" backslash \\ newline \n tab \t ctrl \u0001 unicode é 雪 🙂");
        for (StoredType t : StoredType.values()) w.addFloats("t." + t, t, new long[]{2, 3}, exactValues(t));
        w.addFloats("scalar", StoredType.F32, new long[]{}, new float[]{42.5f});
        w.addFloats("empty", StoredType.F16, new long[]{0}, new float[0]);
        w.addFloats("empty2", StoredType.BF16, new long[]{3, 0, 2}, new float[0]);
        w.addFloats("big64", StoredType.I64, new long[]{2}, new float[]{0x1p40f, -0x1p62f});
        w.addFloats("bigU64", StoredType.U64, new long[]{1}, new float[]{0x1p63f});
        Path p = dir.resolve("all.safetensors");
        w.write(p, false);
        assertEquals(w.fileSize(), Files.size(p));

        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            assertEquals(Map.of("format", "pt", "ss_note", "quotes \" backslash \\ newline \n tab \t ctrl \u0001 unicode é 雪 🙂"), f.metadata());
            assertEquals(List.of("format", "ss_note"), List.copyOf(f.metadata().keySet()));
            for (StoredType t : StoredType.values()) {
                TensorEntry e = f.get("t." + t);
                assertEquals(t, e.type());
                assertArrayEquals(new long[]{2, 3}, e.shape());
                assertEquals(6L * t.byteSize(), e.byteSize());
                assertArrayEquals(exactValues(t), f.readFloats("t." + t), t.toString());
            }
            TensorEntry scalar = f.get("scalar");
            assertEquals(0, scalar.rank());
            assertEquals(1, scalar.numel());
            assertArrayEquals(new float[]{42.5f}, f.readFloats("scalar"));
            assertEquals(0, f.get("empty").byteSize());
            assertEquals(0, f.readFloats("empty2").length);
            assertArrayEquals(new long[]{3, 0, 2}, f.get("empty2").shape());
            assertArrayEquals(new float[]{0x1p40f, -0x1p62f}, f.readFloats("big64"));
            assertEquals(Long.MIN_VALUE, f.data(f.get("bigU64")).get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0));
            assertArrayEquals(new float[]{0x1p63f}, f.readFloats("bigU64"));
            // tensors in begin order, packed contiguously in the order added
            List<TensorEntry> ts = f.tensors();
            assertEquals(StoredType.values().length + 5, ts.size());
            long expect = 0;
            for (TensorEntry e : ts) {
                assertEquals(expect, e.begin(), e.name());
                expect = e.end();
            }
            assertEquals(f.fileSize(), f.dataStart() + expect);
            assertTrue(f.contains("scalar"));
            assertFalse(f.contains("nope"));
            SafeTensorsException missing = assertThrows(SafeTensorsException.class, () -> f.get("nope"));
            assertEquals(p + ": no tensor \"nope\" (the file has " + ts.size() + ")", missing.getMessage());
        }
    }

    @Test
    void floatsRoundToNearestEvenOnTheWayIn() throws IOException {
        float tieF16 = 1f + 0x1p-11f;          // halfway between F16 1 and 1 + 2^-10: ties to 1
        float tieBf16 = 1f + 3 * 0x1p-8f;      // halfway between BF16 1 + 2^-7 (odd) and 1 + 2^-6 (even)
        Path p = dir.resolve("round.safetensors");
        new SafeTensorsWriter()
                .addFloats("h", StoredType.F16, new long[]{2}, new float[]{tieF16, 70000f})
                .addFloats("b", StoredType.BF16, new long[]{1}, new float[]{tieBf16})
                .addFloats("e4", StoredType.F8_E4M3, new long[]{3}, new float[]{1.0625f, 460f, 470f})
                .write(p, false);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            assertArrayEquals(new float[]{1f, Float.POSITIVE_INFINITY}, f.readFloats("h"));
            assertArrayEquals(new float[]{1f + 0x1p-6f}, f.readFloats("b"));
            float[] e4 = f.readFloats("e4");
            assertEquals(1f, e4[0]);
            assertEquals(448f, e4[1]);
            assertTrue(Float.isNaN(e4[2]), "E4M3FN overflow is NaN");
        }
    }

    @Test
    void dataStartsEightByteAlignedForEveryHeaderLength() throws IOException {
        for (int len = 1; len <= 16; len++) {
            Path p = dir.resolve("a" + len + ".safetensors");
            new SafeTensorsWriter().addFloats("x".repeat(len), StoredType.F64, new long[]{1}, new float[]{1}).write(p, false);
            try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
                assertEquals(0, f.dataStart() % 8, "name length " + len);
                assertEquals(1.0, f.data(f.get("x".repeat(len))).get(ValueLayout.JAVA_DOUBLE_UNALIGNED, 0));
            }
            byte[] bytes = Files.readAllBytes(p);
            int n = (int) ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
            assertEquals(0, n % 8);
            assertTrue(new String(bytes, 8, n).matches("\\{.*} *"), "padding is trailing spaces");
        }
    }

    @Test
    void sameInputGivesIdenticalBytes() throws IOException {
        Path a = dir.resolve("a.safetensors"), b = dir.resolve("b.safetensors");
        for (Path p : List.of(a, b)) {
            new SafeTensorsWriter()
                    .metadata("k2", "v2").metadata("k1", "v1")
                    .addFloats("z", StoredType.F32, new long[]{3}, new float[]{1, 2, 3})
                    .addFloats("a", StoredType.BF16, new long[]{2}, new float[]{0.1f, 0.2f})
                    .add("m", StoredType.U8, new long[]{5}, dst -> dst.set(ValueLayout.JAVA_BYTE, 0, (byte) 9))   // fills 1 of 5 bytes
                    .write(p, false);
        }
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b));
        String header = new String(Files.readAllBytes(a), 8, 200).trim();
        assertTrue(header.startsWith("{\"__metadata__\":{\"k2\":\"v2\",\"k1\":\"v1\"},\"z\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},\"a\":"), header);
    }

    @Test
    void mappedPathForLargeTensorsWritesTheSameFile() throws IOException {
        float[] big = new float[5000];
        for (int i = 0; i < big.length; i++) big[i] = (float) Math.sin(i);
        Path staged = dir.resolve("staged.safetensors"), mapped = dir.resolve("mapped.safetensors");
        for (Path p : List.of(staged, mapped)) {
            new SafeTensorsWriter().stagingLimit(p == staged ? Long.MAX_VALUE : 16)
                    .addFloats("small", StoredType.F32, new long[]{2}, new float[]{1, 2})
                    .addFloats("big", StoredType.F16, new long[]{50, 100}, big)
                    .addFloats("tail", StoredType.I8, new long[]{3}, new float[]{-1, 0, 1})
                    .write(p, false);
        }
        assertArrayEquals(Files.readAllBytes(staged), Files.readAllBytes(mapped));
        try (SafeTensorsFile f = SafeTensorsFile.open(mapped)) {
            float[] back = f.readFloats("big");
            for (int i = 0; i < big.length; i++) assertEquals(Float.float16ToFloat(Float.floatToFloat16(big[i])), back[i]);
        }
    }

    @Test
    void addSegmentCopiesBytesAndChecksTheirLength() throws IOException {
        Path p = dir.resolve("seg.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment s = arena.allocate(6);
            s.copyFrom(MemorySegment.ofArray(ints(new int[]{1, 2, 3, 4, 5, 6})));
            SafeTensorsWriter w = new SafeTensorsWriter().addSegment("s", StoredType.I16, new long[]{3}, s);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> w.addSegment("t", StoredType.I16, new long[]{4}, s));
            assertTrue(e.getMessage().contains("6 bytes") && e.getMessage().contains("needs 8"), e.getMessage());
            w.write(p, false);
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            assertArrayEquals(new float[]{0x0201, 0x0403, 0x0605}, f.readFloats("s"));
        }
    }

    @Test
    void writerRejectsBadInputBeforeWritingAnything() {
        SafeTensorsWriter w = new SafeTensorsWriter().addFloats("a", StoredType.F32, new long[]{1}, new float[]{1});
        assertThrows(IllegalArgumentException.class, () -> w.addFloats("a", StoredType.F32, new long[]{1}, new float[]{1}), "duplicate");
        assertThrows(IllegalArgumentException.class, () -> w.addFloats("", StoredType.F32, new long[]{1}, new float[]{1}), "empty name");
        assertThrows(IllegalArgumentException.class, () -> w.addFloats("__metadata__", StoredType.F32, new long[]{1}, new float[]{1}));
        assertThrows(IllegalArgumentException.class, () -> w.addFloats("b", StoredType.F32, new long[]{2}, new float[]{1}), "count");
        assertThrows(IllegalArgumentException.class, () -> w.add("c", StoredType.F32, new long[]{-1}, dst -> {}));
        assertThrows(ArithmeticException.class, () -> w.add("d", StoredType.F32, new long[]{1L << 40, 1L << 40}, dst -> {}));
        assertThrows(IllegalArgumentException.class, () -> w.add("e", StoredType.F32, new long[9], dst -> {}), "rank 9");
        assertThrows(IllegalArgumentException.class, () -> w.addFloats("i", StoredType.U8, new long[]{1}, new float[]{256}));
        assertThrows(IllegalArgumentException.class, () -> w.addFloats("i", StoredType.I32, new long[]{1}, new float[]{0.5f}));
        assertThrows(IllegalArgumentException.class, () -> w.addFloats("i", StoredType.BOOL, new long[]{1}, new float[]{2}));
        assertThrows(IllegalArgumentException.class, () -> w.metadata("k", null));
        assertThrows(IllegalArgumentException.class, () -> w.metadata("k", "lone \ud800 surrogate"));
        assertThrows(IllegalArgumentException.class, () -> w.add("lone \udc00", StoredType.F32, new long[]{1}, dst -> {}));
        w.metadata("k", "v");
        assertThrows(IllegalArgumentException.class, () -> w.metadata("k", "again"));
    }

    @Test
    void aFailingSourceLeavesNeitherDestinationNorTempFile() throws IOException {
        Path p = dir.resolve("fail.safetensors");
        for (long staging : new long[]{Long.MAX_VALUE, 0}) {   // staged and mapped paths
            SafeTensorsWriter w = new SafeTensorsWriter().stagingLimit(staging)
                    .addFloats("ok", StoredType.F32, new long[]{4}, new float[4])
                    .add("bad", StoredType.F32, new long[]{4}, dst -> { throw new IOException("source broke"); });
            IOException e = assertThrows(IOException.class, () -> w.write(p, false));
            assertEquals("source broke", e.getMessage());
            assertFalse(Files.exists(p));
            SafeTensorsWriter w2 = new SafeTensorsWriter().stagingLimit(staging)
                    .add("bad", StoredType.F32, new long[]{4}, dst -> dst.set(ValueLayout.JAVA_BYTE, 16, (byte) 1));   // out of bounds
            assertThrows(IndexOutOfBoundsException.class, () -> w2.write(p, false));
            assertFalse(Files.exists(p));
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(), files.toList(), "no temp file left behind");
        }
    }

    @Test
    void existingFileIsRefusedWithoutOverwriteAndReplacedWithIt() throws IOException {
        Path p = dir.resolve("out.safetensors");
        Files.writeString(p, "old");
        SafeTensorsWriter w = new SafeTensorsWriter().addFloats("a", StoredType.F32, new long[]{1}, new float[]{7});
        FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class, () -> w.write(p, false));
        assertEquals(p + ": exists (use --force to overwrite)", e.getMessage());
        assertEquals("old", Files.readString(p));

        // a failing write with overwrite keeps the old file
        SafeTensorsWriter failing = new SafeTensorsWriter().add("a", StoredType.F32, new long[]{1}, dst -> { throw new IllegalStateException("boom"); });
        assertThrows(IllegalStateException.class, () -> failing.write(p, true));
        assertEquals("old", Files.readString(p));

        w.write(p, true);   // refused writes did not use the writer up
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            assertArrayEquals(new float[]{7}, f.readFloats("a"));
        }
        assertThrows(IllegalStateException.class, () -> w.write(p, true), "a writer writes once");
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(p), files.toList());
        }
    }

    /** Byte vectors from the reference implementation's own tests (huggingface/safetensors, safetensors/src/tensor.rs). */
    @Test
    void byteExactWithTheReferenceImplementation() throws IOException {
        byte[] data = Fixtures.f32(0, 1, 2, 3, 4, 5);
        // test_serialization: "attn.0" F32 [1,2,3]; the JSON is 64 bytes, so no padding
        byte[] attn = file("{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}", data);
        assertEquals(64, attn[0]);
        assertWrites(attn, new SafeTensorsWriter().addFloats("attn.0", StoredType.F32, new long[]{1, 2, 3}, new float[]{0, 1, 2, 3, 4, 5}));
        // test_serialization_forced_alignement: 65 bytes of JSON + 7 spaces = 72
        byte[] aligned = file("{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ", data);
        assertEquals(72, aligned[0]);
        assertWrites(aligned, new SafeTensorsWriter().addFloats("attn0", StoredType.F32, new long[]{1, 1, 2, 3}, new float[]{0, 1, 2, 3, 4, 5}));
        // test_empty: no tensors, with and without metadata
        assertWrites(file("{}      ", new byte[0]), new SafeTensorsWriter());
        assertWrites(file("{\"__metadata__\":{\"framework\":\"pt\"}}     ", new byte[0]), new SafeTensorsWriter().metadata("framework", "pt"));

        try (SafeTensorsFile f = SafeTensorsFile.open(Fixtures.write(dir, "ref.safetensors", aligned))) {
            assertEquals(80, f.dataStart());
            assertArrayEquals(new float[]{0, 1, 2, 3, 4, 5}, f.readFloats("attn0"));
            assertArrayEquals(new long[]{1, 1, 2, 3}, f.get("attn0").shape());
        }
        // the Python binding's test_deserialization: unpadded 60-byte header, I32 zeros
        byte[] py = file("{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", new byte[16]);
        try (SafeTensorsFile f = SafeTensorsFile.open(Fixtures.write(dir, "py.safetensors", py))) {
            assertEquals(68, f.dataStart());
            assertArrayEquals(new float[4], f.readFloats("test"));
            assertEquals(Map.of(), f.metadata());
        }
    }

    private void assertWrites(byte[] expected, SafeTensorsWriter w) throws IOException {
        Path p = Files.createTempFile(dir, "w", ".safetensors");
        w.write(p, true);
        assertArrayEquals(expected, Files.readAllBytes(p));
    }

    @Test
    void aMultiGigabyteFileOpensWithoutReadingItsData() throws IOException {
        long tensorBytes = 3L << 30;   // 3 GiB of U8, sparse on disk
        byte[] head = file("{\"huge\":{\"dtype\":\"U8\",\"shape\":[" + tensorBytes + "],\"data_offsets\":[0," + tensorBytes + "]}}", new byte[0]);
        Path p = Fixtures.write(dir, "huge.safetensors", head);
        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
            raf.setLength(head.length + tensorBytes);
            raf.seek(head.length + tensorBytes - 4);
            raf.write(Fixtures.f32(2.5f));
        }
        long t0 = System.nanoTime();
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms < 1000, "open took " + ms + " ms");
            MemorySegment d = f.data(f.get("huge"));
            assertEquals(tensorBytes, d.byteSize());
            assertEquals(2.5f, d.get(ValueLayout.JAVA_FLOAT_UNALIGNED, tensorBytes - 4));
            assertEquals(0f, d.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 0));
            SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> f.readFloats("huge"));
            assertTrue(e.getMessage().startsWith(p + ": tensor \"huge\" has 3221225472 elements"), e.getMessage());
        }
    }

    @Test
    void aMultiGigabyteTensorIsWrittenThroughAMapping() throws IOException {
        long n = 2_500_000_001L;   // > 2^31 bytes: no ByteBuffer or array could hold it
        Path p = dir.resolve("big.safetensors");
        new SafeTensorsWriter()
                .addFloats("head", StoredType.F32, new long[]{1}, new float[]{3})
                .add("bytes", StoredType.U8, new long[]{n}, dst -> {   // touches two pages: the file stays sparse
                    assertEquals(n, dst.byteSize());
                    dst.set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
                    dst.set(ValueLayout.JAVA_BYTE, n - 1, (byte) 7);
                })
                .addFloats("tail", StoredType.F16, new long[]{2}, new float[]{1, 2})
                .write(p, false);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            MemorySegment d = f.data(f.get("bytes"));
            assertEquals(1, d.get(ValueLayout.JAVA_BYTE, 0));
            assertEquals(0, d.get(ValueLayout.JAVA_BYTE, n / 2));
            assertEquals(7, d.get(ValueLayout.JAVA_BYTE, n - 1));
            assertArrayEquals(new float[]{1, 2}, f.readFloats("tail"));
            assertEquals(f.fileSize(), f.dataStart() + f.get("tail").end());
        }
        Files.delete(p);
    }

    @Test
    void segmentsDieWithTheFile() throws IOException {
        Path p = dir.resolve("c.safetensors");
        new SafeTensorsWriter().addFloats("a", StoredType.F32, new long[]{1}, new float[]{1}).write(p, false);
        SafeTensorsFile f = SafeTensorsFile.open(p);
        MemorySegment d = f.data(f.get("a"));
        f.close();
        f.close();   // twice is fine
        assertThrows(IllegalStateException.class, () -> d.get(ValueLayout.JAVA_BYTE, 0));
        Files.delete(p);   // nothing keeps the file mapped
    }
}
