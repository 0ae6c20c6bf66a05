package dev.sumi.tensor.safetensors;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class JsonTest {

    @Test
    void parsesEveryKindOfValue() throws Json.ParseException {
        Object v = Json.parse(" {\"a\" : [1, -2.5e+3, true, false, null, \"x\\u00e9\\ud83d\\ude42\\n\\/\"], \"b\":{}}\t\r\n ");
        Map<?, ?> m = (Map<?, ?>) v;
        assertEquals(List.of("a", "b"), List.copyOf(m.keySet()));
        List<?> a = (List<?>) m.get("a");
        assertEquals(new Json.Num("1"), a.get(0));
        assertEquals(new Json.Num("-2.5e+3"), a.get(1));
        assertEquals(Boolean.TRUE, a.get(2));
        assertEquals(Json.NULL, a.get(4));
        assertEquals("xé🙂\n/", a.get(5));
        assertEquals(Map.of(), m.get("b"));
    }

    @Test
    void rejectsWhatRfc8259Rejects() {
        for (String bad : new String[]{"", " ", "{", "{}}", "{} {}", "{\"a\":1,}", "[1,]", "{\"a\" 1}", "{a:1}", "01", "1.", ".5", "1e", "-",
                "+1", "0x10", "Infinity", "tru", "nul", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\"", "\"\\udc00\\ud800\"",
                "\"a\u0001\"", "\"unterminated", "/*c*/{}", "{\"a\":1}//", "\u00a0{}", "[\"\\u٣٣٣٣\"]"}) {
            assertThrows(Json.ParseException.class, () -> Json.parse(bad), bad);
        }
    }

    @Test
    void nestingIsBoundedAt64() throws Json.ParseException {
        Json.parse("[".repeat(64) + "]".repeat(64));
        Json.ParseException e = assertThrows(Json.ParseException.class, () -> Json.parse("[".repeat(65) + "]".repeat(65)));
        assertEquals("nesting deeper than 64 at character 64", e.getMessage());
        // far deeper input fails at the same bound, without a stack overflow
        assertThrows(Json.ParseException.class, () -> Json.parse("{\"a\":".repeat(100_000)));
    }

    @Test
    void duplicateKeysAreRejectedAtAnyDepth() {
        Json.ParseException e = assertThrows(Json.ParseException.class, () -> Json.parse("{\"x\":{\"k\":1,\"k\":2}}"));
        assertEquals("duplicate key \"k\" at character 12", e.getMessage());
    }

    @Test
    void writerEscapingRoundTripsThroughTheParser() throws Json.ParseException {
        Random r = new Random(3);
        for (int i = 0; i < 2000; i++) {
            StringBuilder s = new StringBuilder();
            int len = r.nextInt(20);
            for (int j = 0; j < len; j++) {
                int kind = r.nextInt(4);
                if (kind == 0) s.append((char) r.nextInt(0x20));
                else if (kind == 1) s.append("\"\\/".charAt(r.nextInt(3)));
                else if (kind == 2) s.appendCodePoint(0x80 + r.nextInt(0x10000 - 0x80 - 0x2000));   // below the surrogates
                else s.appendCodePoint(0x10000 + r.nextInt(0x100000));
            }
            StringBuilder json = new StringBuilder();
            Json.appendString(json, s.toString());
            assertEquals(s.toString(), Json.parse(json.toString()));
        }
        StringBuilder b = new StringBuilder();
        Json.appendString(b, "a\"b\\c\nd\u0001é/");
        assertEquals("\"a\\\"b\\\\c\\nd\\u0001é/\"", b.toString());   // serde_json's choices
    }
}
