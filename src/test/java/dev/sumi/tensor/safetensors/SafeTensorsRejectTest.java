package dev.sumi.tensor.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

import static dev.sumi.tensor.safetensors.Fixtures.file;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each malformed file is refused with one line naming the file and the reason. */
class SafeTensorsRejectTest {

    @TempDir
    Path dir;

    private static final String T = "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    /** Opens {@code bytes} as a file and returns the reason it was refused, after checking the message's form. */
    private String reject(byte[] bytes) throws IOException {
        Path p = Fixtures.write(dir, "bad.safetensors", bytes);
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensorsFile.open(p).close());
        String m = e.getMessage();
        assertTrue(m.startsWith(p + ": "), m);
        assertFalse(m.contains("\n") || m.contains("\r"), "one line: " + m);
        assertEquals(p, e.file());
        assertEquals(m, p + ": " + e.reason());
        return e.reason();
    }

    private String reject(String json, int dataBytes) throws IOException {
        return reject(file(json, new byte[dataBytes]));
    }

    private static void assertReason(String expected, String actual) {
        assertEquals(expected, actual);
    }

    private static void assertMentions(String reason, String... parts) {
        for (String part : parts) assertTrue(reason.contains(part), "'" + part + "' in: " + reason);
    }

    @Test
    void truncatedFile() throws IOException {
        assertReason("file is 0 bytes, too short for the 8-byte header length", reject(new byte[0]));
        assertReason("file is 5 bytes, too short for the 8-byte header length", reject(new byte[5]));
        byte[] whole = file("{\"a\":" + T + "}", new byte[8]);
        byte[] cut = java.util.Arrays.copyOf(whole, whole.length - 3);   // data cut short
        assertMentions(reject(cut), "tensor \"a\"", "data_offsets [0, 8] exceed the data area (5 bytes)");
    }

    @Test
    void headerLengthLargerThanTheFile() throws IOException {
        byte[] b = file("{}", new byte[0]);
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 9_999_999);
        assertReason("header length 9999999 exceeds the file (10 bytes)", reject(b));
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 9_999_999_999L);
        assertReason("header length 9999999999 exceeds the 100000000-byte limit", reject(b));
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -1);
        assertReason("header length 18446744073709551615 exceeds the 100000000-byte limit", reject(b));
    }

    @Test
    void headerNotJson() throws IOException {
        assertMentions(reject("{\"a\":" + T, 8), "header is not valid JSON", "expected ',' or '}'");
        assertMentions(reject("{\"a\":" + T + "}xyz", 8), "header is not valid JSON", "unexpected 'x' after the end of the value");
        assertMentions(reject("{\"a\":" + T + "}\u0000\u0000", 8), "header is not valid JSON", "U+0000");
        assertMentions(reject("", 0), "header is not valid JSON", "unexpected end of header");
        assertMentions(reject("{'a':1}", 0), "header is not valid JSON");
        assertMentions(reject("{\"a\":[1,]}", 0), "header is not valid JSON");
        assertMentions(reject("{\"a\":01}", 0), "leading zero");
        assertMentions(reject("{\"a\":NaN}", 0), "header is not valid JSON");
        assertMentions(reject("{\"a\":\"\\ud800\"}", 0), "unpaired surrogate");
        assertMentions(reject("{\"a\":\"tab\there\"}", 0), "unescaped control character");
        assertMentions(reject("[".repeat(65) + "]".repeat(65), 0), "nesting deeper than 64");
        assertMentions(reject("{\"x\":" + "[".repeat(64) + "]".repeat(64) + "}", 0), "nesting deeper than 64");
        assertReason("header is not valid UTF-8", reject(file(new byte[]{'{', '"', (byte) 0xc3, '"', '}'}, new byte[0])));
        assertReason("header is not valid UTF-8", reject(file(new byte[]{'{', '"', (byte) 0xed, (byte) 0xa0, (byte) 0x80, '"', '}'}, new byte[0])));   // CESU surrogate
        assertReason("header is not valid UTF-8", reject(file(new byte[]{'{', '"', (byte) 0xc0, (byte) 0xaf, '"', '}'}, new byte[0])));   // overlong '/'
    }

    @Test
    void headerNotAnObject() throws IOException {
        assertReason("header is not a JSON object (found an array)", reject("[1,2]", 0));
        assertReason("header is not a JSON object (found a string)", reject("\"x\"", 0));
        assertReason("header is not a JSON object (found null)", reject("null    ", 0));
        assertMentions(reject("{\"a\":[1,2]}", 0), "tensor \"a\" is an array, not an object");
    }

    @Test
    void overlappingOffsets() throws IOException {
        String json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
        assertReason("tensors \"a\" [0, 8] and \"b\" [4, 12] overlap", reject(json, 12));
        String same = "{\"a\":" + T + ",\"b\":" + T + "}";
        assertMentions(reject(same, 8), "overlap");
        // a range inside another, listed first in the JSON
        String inner = "{\"in\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]},\"out\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}";
        assertMentions(reject(inner, 8), "\"out\" [0, 8]", "\"in\" [3, 5]", "overlap");
    }

    @Test
    void emptyTensorsMayShareOffsetsAndGapsAreAllowed() throws IOException {
        String json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                + "\"c\":{\"dtype\":\"F16\",\"shape\":[0,5],\"data_offsets\":[4,4]},\"d\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[10,11]}}";
        try (SafeTensorsFile f = SafeTensorsFile.open(Fixtures.write(dir, "ok.safetensors", file(json, new byte[16])))) {
            assertEquals(java.util.List.of("b", "a", "c", "d"), f.tensors().stream().map(TensorEntry::name).toList());
        }
    }

    @Test
    void outOfRangeOffsets() throws IOException {
        assertReason("tensor \"a\": data_offsets [0, 8] exceed the data area (7 bytes)", reject("{\"a\":" + T + "}", 7));
        assertReason("tensor \"a\": data_offsets [8, 4] begin after end",
                reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8));
        assertMentions(reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 8), "data_offsets is not a pair");
        assertMentions(reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8), "data_offsets is not a pair");
        assertMentions(reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8), "data_offsets begin \"-4\" is not a non-negative integer");
        assertMentions(reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 8), "data_offsets end \"4.0\" is not a non-negative integer");
        assertMentions(reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[99999999999999999999,4]}}", 8), "exceeds 2^63-1");
    }

    @Test
    void dtypeShapeAndLengthDisagree() throws IOException {
        assertReason("tensor \"a\": data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 12",
                reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 16));
        assertReason("tensor \"a\": data_offsets [0, 8] hold 8 bytes, but F64 [2] needs 16",
                reject("{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 16));
        assertMentions(reject("{\"a\":{\"dtype\":\"BOOL\",\"shape\":[],\"data_offsets\":[0,2]}}", 8), "BOOL [] needs 1");
        assertMentions(reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), "tensor \"a\" has no \"data_offsets\"");
        assertMentions(reject("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "tensor \"a\" has no \"dtype\"");
        assertMentions(reject("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8), "tensor \"a\" has no \"shape\"");
        assertMentions(reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8), "unexpected key \"extra\"");
        assertMentions(reject("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8), "shape is a number, not an array");
    }

    @Test
    void duplicateNames() throws IOException {
        assertMentions(reject("{\"a\":" + T + ",\"a\":" + T + "}", 8), "header is not valid JSON", "duplicate key \"a\"");
        assertMentions(reject("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "duplicate key \"dtype\"");
        assertMentions(reject("{\"\":" + T + "}", 8), "a tensor has an empty name");
        // the same name spelled with an escape is the same name
        assertMentions(reject("{\"a\":" + T + ",\"\\u0061\":" + T + "}", 8), "duplicate key \"a\"");
    }

    @Test
    void unknownDtype() throws IOException {
        assertReason("tensor \"a\": unknown dtype \"F128\"", reject("{\"a\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8));
        assertReason("tensor \"a\": unknown dtype \"f32\"", reject("{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8));
        assertMentions(reject("{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "dtype is a number, not a string");
    }

    @Test
    void negativeOrOverflowingShape() throws IOException {
        assertReason("tensor \"a\": shape dimension \"-2\" is not a non-negative integer",
                reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8));
        assertReason("tensor \"a\": shape [4294967296, 4294967296] of F32 overflows 64 bits",
                reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8));
        assertReason("tensor \"a\": shape [2305843009213693952] of F32 overflows 64 bits",   // numel fits, bytes do not
                reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2305843009213693952],\"data_offsets\":[0,8]}}", 8));
        assertMentions(reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8), "rank 9, more than 8");
        assertMentions(reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2e0],\"data_offsets\":[0,8]}}", 8), "\"2e0\" is not a non-negative integer");
        assertMentions(reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8), "\"a string\" is not a non-negative integer");
        // a zero dimension makes an overflowing product harmless only if it comes first
        assertMentions(reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,0],\"data_offsets\":[0,0]}}", 8), "overflows 64 bits");
    }

    @Test
    void metadataNotStringToString() throws IOException {
        assertReason("__metadata__ value of \"epochs\" is a number, not a string", reject("{\"__metadata__\":{\"epochs\":10}}", 0));
        assertReason("__metadata__ value of \"x\" is an object, not a string", reject("{\"__metadata__\":{\"x\":{}}}", 0));
        assertReason("__metadata__ is an array, not an object of strings", reject("{\"__metadata__\":[\"a\"]}", 0));
        assertReason("__metadata__ is null, not an object of strings", reject("{\"__metadata__\":null}", 0));
        assertMentions(reject("{\"__metadata__\":{},\"__metadata__\":{}}", 0), "duplicate key \"__metadata__\"");
    }

    @Test
    void namesInMessagesStayOnOneLineAndShort() throws IOException {
        String reason = reject("{\"line\\nbreak\\u0007" + "x".repeat(500) + "\":{\"dtype\":\"F99\",\"shape\":[],\"data_offsets\":[0,4]}}", 4);
        assertTrue(reason.startsWith("tensor \"line\\nbreak\\u0007xxx"), reason);
        assertMentions(reason, "(511 characters)", "unknown dtype \"F99\"");
        assertTrue(reason.length() < 250, reason);
    }

    @Test
    void missingFileAndFolderNameThePath() {
        Path missing = dir.resolve("nope.safetensors");
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensorsFile.open(missing));
        assertEquals(missing + ": cannot read: no such file", e.getMessage());
        e = assertThrows(SafeTensorsException.class, () -> SafeTensorsFile.open(dir));
        assertEquals(dir + ": is a folder, not a safetensors file", e.getMessage());
    }
}
