package dev.sumi.tensor.safetensors;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A strict RFC 8259 JSON parser for safetensors headers, and the string escaping the writer uses.
 * <p>
 * Values: {@code Map<String, Object>} (keys in file order), {@code List<Object>}, {@link String}, {@link Num},
 * {@link Boolean} and {@link #NULL}. Rejected: anything after the value but whitespace, duplicate keys in any
 * object, nesting deeper than {@link #MAX_DEPTH}, unescaped control characters, unpaired surrogate escapes,
 * leading zeros, {@code NaN}/{@code Infinity}, comments and trailing commas. Recursion depth is bounded by
 * {@link #MAX_DEPTH}, so no input overflows the stack.
 */
public final class Json {
    private Json() {}

    static final int MAX_DEPTH = 64;

    /** The JSON {@code null} (a Java null would be ambiguous in maps). */
    public static final Object NULL = new Object() {
        @Override
        public String toString() {
            return "null";
        }
    };

    /** A number, kept as its text: the header's integers may exceed what a double holds exactly. */
    public record Num(String text) {
        /** True for a plain non-negative integer literal: digits only, no sign, fraction or exponent. */
        boolean isNonNegativeInteger() {
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                if (c < '0' || c > '9') return false;
            }
            return true;
        }

        @Override
        public String toString() {
            return text;
        }
    }

    public static final class ParseException extends Exception {
        private static final long serialVersionUID = 1L;

        ParseException(String message) {
            super(message, null, false, false);
        }
    }

    /** What a value is, for messages: "an object", "a string", ... */
    static String kind(Object v) {
        if (v instanceof Map) return "an object";
        if (v instanceof List) return "an array";
        if (v instanceof String) return "a string";
        if (v instanceof Num) return "a number";
        if (v instanceof Boolean) return "a boolean";
        return "null";
    }

    /** Parses one JSON value: Map (insertion order), List, String, {@link Num}, Boolean or {@link #NULL}. */
    public static Object parse(String text) throws ParseException {
        Parser p = new Parser(text);
        p.skipWhitespace();
        Object v = p.value(0);
        p.skipWhitespace();
        if (p.pos < text.length()) throw p.error("unexpected " + p.describe(p.pos) + " after the end of the value");
        return v;
    }

    private static final class Parser {
        private final String s;
        private int pos;

        Parser(String s) {
            this.s = s;
        }

        ParseException error(String what) {
            return new ParseException(what + " at character " + pos);
        }

        String describe(int at) {
            if (at >= s.length()) return "end of header";
            char c = s.charAt(at);
            return c < 0x20 || c == 0x7f ? String.format("character U+%04X", (int) c) : "'" + c + "'";
        }

        void skipWhitespace() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
                pos++;
            }
        }

        Object value(int depth) throws ParseException {
            if (pos >= s.length()) throw error("unexpected end of header");
            char c = s.charAt(pos);
            return switch (c) {
                case '{' -> object(depth + 1);
                case '[' -> array(depth + 1);
                case '"' -> string();
                case 't' -> literal("true", Boolean.TRUE);
                case 'f' -> literal("false", Boolean.FALSE);
                case 'n' -> literal("null", NULL);
                default -> {
                    if (c == '-' || (c >= '0' && c <= '9')) yield number();
                    throw error("unexpected " + describe(pos));
                }
            };
        }

        private Object literal(String word, Object v) throws ParseException {
            if (!s.startsWith(word, pos)) throw error("unexpected " + describe(pos));
            pos += word.length();
            return v;
        }

        private Map<String, Object> object(int depth) throws ParseException {
            if (depth > MAX_DEPTH) throw error("nesting deeper than " + MAX_DEPTH);
            pos++;   // '{'
            Map<String, Object> map = new LinkedHashMap<>();
            skipWhitespace();
            if (pos < s.length() && s.charAt(pos) == '}') {
                pos++;
                return map;
            }
            while (true) {
                skipWhitespace();
                if (pos >= s.length() || s.charAt(pos) != '"') throw error("expected a key string, found " + describe(pos));
                int keyAt = pos;
                String key = string();
                skipWhitespace();
                expect(':');
                skipWhitespace();
                Object v = value(depth);
                if (map.putIfAbsent(key, v) != null) {
                    pos = keyAt;
                    throw error("duplicate key " + Messages.quote(key));
                }
                skipWhitespace();
                if (pos < s.length() && s.charAt(pos) == ',') {
                    pos++;
                } else if (pos < s.length() && s.charAt(pos) == '}') {
                    pos++;
                    return map;
                } else {
                    throw error("expected ',' or '}', found " + describe(pos));
                }
            }
        }

        private List<Object> array(int depth) throws ParseException {
            if (depth > MAX_DEPTH) throw error("nesting deeper than " + MAX_DEPTH);
            pos++;   // '['
            List<Object> list = new ArrayList<>();
            skipWhitespace();
            if (pos < s.length() && s.charAt(pos) == ']') {
                pos++;
                return Collections.unmodifiableList(list);
            }
            while (true) {
                skipWhitespace();
                list.add(value(depth));
                skipWhitespace();
                if (pos < s.length() && s.charAt(pos) == ',') {
                    pos++;
                } else if (pos < s.length() && s.charAt(pos) == ']') {
                    pos++;
                    return Collections.unmodifiableList(list);
                } else {
                    throw error("expected ',' or ']', found " + describe(pos));
                }
            }
        }

        private void expect(char c) throws ParseException {
            if (pos >= s.length() || s.charAt(pos) != c) throw error("expected '" + c + "', found " + describe(pos));
            pos++;
        }

        private String string() throws ParseException {
            pos++;   // opening quote
            StringBuilder b = null;   // only built when the string has escapes
            int start = pos;
            while (true) {
                if (pos >= s.length()) throw error("unterminated string");
                char c = s.charAt(pos);
                if (c == '"') {
                    String out = b == null ? s.substring(start, pos) : b.append(s, start, pos).toString();
                    pos++;
                    return out;
                }
                if (c < 0x20) throw error("unescaped control character U+" + String.format("%04X", (int) c) + " in a string");
                if (c != '\\') {
                    pos++;
                    continue;
                }
                if (b == null) b = new StringBuilder();
                b.append(s, start, pos);
                pos++;
                if (pos >= s.length()) throw error("unterminated string");
                char e = s.charAt(pos++);
                switch (e) {
                    case '"' -> b.append('"');
                    case '\\' -> b.append('\\');
                    case '/' -> b.append('/');
                    case 'b' -> b.append('\b');
                    case 'f' -> b.append('\f');
                    case 'n' -> b.append('\n');
                    case 'r' -> b.append('\r');
                    case 't' -> b.append('\t');
                    case 'u' -> {
                        char u = hex4();
                        if (Character.isHighSurrogate(u)) {
                            if (!s.startsWith("\\u", pos)) throw error("unpaired surrogate escape");
                            pos += 2;
                            char low = hex4();
                            if (!Character.isLowSurrogate(low)) throw error("unpaired surrogate escape");
                            b.append(u).append(low);
                        } else if (Character.isLowSurrogate(u)) {
                            throw error("unpaired surrogate escape");
                        } else {
                            b.append(u);
                        }
                    }
                    default -> {
                        pos--;
                        throw error("invalid escape '\\" + (e < 0x20 ? "?" : String.valueOf(e)) + "'");
                    }
                }
                start = pos;
            }
        }

        private char hex4() throws ParseException {
            if (pos + 4 > s.length()) throw error("truncated \\u escape");
            int v = 0;
            for (int i = 0; i < 4; i++) {
                int d = Character.digit(s.charAt(pos), 16);
                // Character.digit accepts non-ASCII digits too; JSON allows only [0-9a-fA-F]
                if (d < 0 || s.charAt(pos) > 'f') throw error("invalid \\u escape");
                v = v * 16 + d;
                pos++;
            }
            return (char) v;
        }

        /** {@code -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?} */
        private Num number() throws ParseException {
            int start = pos;
            if (s.charAt(pos) == '-') pos++;
            if (pos >= s.length() || !isDigit(s.charAt(pos))) throw error("invalid number");
            if (s.charAt(pos) == '0') {
                pos++;
                if (pos < s.length() && isDigit(s.charAt(pos))) throw error("number with a leading zero");
            } else {
                digits();
            }
            if (pos < s.length() && s.charAt(pos) == '.') {
                pos++;
                if (pos >= s.length() || !isDigit(s.charAt(pos))) throw error("invalid number");
                digits();
            }
            if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
                pos++;
                if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) pos++;
                if (pos >= s.length() || !isDigit(s.charAt(pos))) throw error("invalid number");
                digits();
            }
            return new Num(s.substring(start, pos));
        }

        private void digits() {
            while (pos < s.length() && isDigit(s.charAt(pos))) pos++;
        }

        private static boolean isDigit(char c) {
            return c >= '0' && c <= '9';
        }
    }

    /**
     * Appends {@code s} as a JSON string the way serde_json (the reference implementation's serializer) does:
     * {@code "} and {@code \} escaped, {@code \b \f \n \r \t} in short form, other control characters as
     * &#92;u00XX escapes, everything else (non-ASCII included) as is. The caller encodes the result as UTF-8.
     */
    static void appendString(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
                }
            }
        }
        b.append('"');
    }
}
