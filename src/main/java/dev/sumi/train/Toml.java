package dev.sumi.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A strict reader for the part of TOML that kohya training configs use: {@code key = value} lines, comments,
 * {@code [table]} headers one level deep (kohya_ss groups keys in tables such as [training_arguments]; sumi reads them
 * as if flat), and values that are basic or literal strings, integers, floats, booleans or one-line / multi-line arrays
 * of those. Anything else (dotted keys, nested tables, arrays of tables, multi-line strings, dates, inline tables) is
 * an error naming the file and line. Own code instead of jackson-dataformat-toml: ~200 lines, no databind in the jar,
 * and every error carries the line the user has to fix.
 */
public final class Toml {

    /** One {@code key = value}: value is a String, Long, Double, Boolean or List of those; table is "" at top level. */
    public record Entry(String table, String key, Object value, int line) {}

    private final String file;
    private final String text;
    private int pos;
    private int line = 1;

    private Toml(String file, String text) {
        this.file = file;
        this.text = text;
    }

    public static List<Entry> read(Path path) throws IOException {
        return parse(path.toString(), Files.readString(path));
    }

    /** All entries in file order; a key repeated in the same table is an error. */
    public static List<Entry> parse(String file, String text) {
        return new Toml(file, text).entries();
    }

    private List<Entry> entries() {
        List<Entry> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        Set<String> tables = new HashSet<>();
        String table = "";
        while (true) {
            skipBlankAndComments();
            if (pos >= text.length()) return out;
            char c = text.charAt(pos);
            if (c == '[') {
                if (peek(1) == '[') throw error("arrays of tables ([[...]]) are not supported (dataset configs are not training configs)");
                pos++;
                skipSpaces();
                table = key();
                skipSpaces();
                if (peek(0) == '.') throw error("nested table [" + table + ".…]: only one level of tables is supported");
                expect(']');
                if (!tables.add(table)) throw error("table [" + table + "] appears twice");
                endOfLine();
                continue;
            }
            int keyLine = line;
            String key = key();
            skipSpaces();
            if (peek(0) == '.') throw error("dotted key " + key + ".…: write the key in a [table] or flat");
            expect('=');
            skipSpaces();
            Object value = value();
            endOfLine();
            if (!seen.add(table + "\u0000" + key)) throw new IllegalArgumentException(file + ":" + keyLine + ": " + key + ": set twice");
            out.add(new Entry(table, key, value, keyLine));
        }
    }

    private String key() {
        char c = peek(0);
        if (c == '"' || c == '\'') return c == '"' ? basicString() : literalString();
        int start = pos;
        while (pos < text.length() && (Character.isLetterOrDigit(text.charAt(pos)) || text.charAt(pos) == '_' || text.charAt(pos) == '-')) pos++;
        if (start == pos) throw error("expected a key, found " + describe(c));
        return text.substring(start, pos);
    }

    private Object value() {
        char c = peek(0);
        if (c == '"') {
            if (text.startsWith("\"\"\"", pos)) throw error("multi-line strings are not supported");
            return basicString();
        }
        if (c == '\'') {
            if (text.startsWith("'''", pos)) throw error("multi-line strings are not supported");
            return literalString();
        }
        if (c == '[') return array();
        if (c == '{') throw error("inline tables are not supported");
        int start = pos;
        while (pos < text.length() && "+-._eE0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:".indexOf(text.charAt(pos)) >= 0) pos++;
        String word = text.substring(start, pos);
        if (word.equals("true")) return Boolean.TRUE;
        if (word.equals("false")) return Boolean.FALSE;
        if (word.isEmpty()) throw error("expected a value, found " + describe(c));
        if (word.contains("__") || word.startsWith("_") || word.endsWith("_")) throw error("bad number " + word);
        String digits = word.replace("_", "");
        try {
            if (digits.matches("[+-]?(0|[1-9][0-9]*)")) return Long.parseLong(digits);
            if (digits.matches("[+-]?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?")) return Double.parseDouble(digits);
        } catch (NumberFormatException e) {
            throw error("number out of range: " + word);
        }
        throw error("not a string, number, boolean or array: " + word + (word.matches("[A-Za-z_][A-Za-z0-9_.-]*") ? " (strings need quotes)" : ""));
    }

    private List<Object> array() {
        expect('[');
        List<Object> items = new ArrayList<>();
        while (true) {
            skipBlankAndComments();
            if (peek(0) == ']') {
                pos++;
                return items;
            }
            Object v = value();
            if (v instanceof List) throw error("nested arrays are not supported");
            items.add(v);
            skipBlankAndComments();
            if (peek(0) == ',') {
                pos++;
                continue;
            }
            expect(']');
            return items;
        }
    }

    private String basicString() {
        expect('"');
        StringBuilder sb = new StringBuilder();
        while (true) {
            if (pos >= text.length() || text.charAt(pos) == '\n') throw error("unterminated string");
            char c = text.charAt(pos++);
            if (c == '"') return sb.toString();
            if (c != '\\') {
                sb.append(c);
                continue;
            }
            if (pos >= text.length()) throw error("unterminated string");
            char e = text.charAt(pos++);
            switch (e) {
                case 'n' -> sb.append('\n');
                case 't' -> sb.append('\t');
                case 'r' -> sb.append('\r');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case '"' -> sb.append('"');
                case '\\' -> sb.append('\\');
                case 'u', 'U' -> {
                    int n = e == 'u' ? 4 : 8;
                    if (pos + n > text.length()) throw error("bad \\" + e + " escape");
                    try {
                        sb.appendCodePoint(Integer.parseInt(text.substring(pos, pos + n), 16));
                    } catch (IllegalArgumentException ex) {
                        throw error("bad \\" + e + " escape");
                    }
                    pos += n;
                }
                // Windows paths in basic strings are the usual mistake: say what to write instead
                default -> throw error("unknown escape \\" + e + " in a \"string\" (for Windows paths use 'single quotes' or /)");
            }
        }
    }

    private String literalString() {
        expect('\'');
        int end = text.indexOf('\'', pos);
        int nl = text.indexOf('\n', pos);
        if (end < 0 || (nl >= 0 && nl < end)) throw error("unterminated string");
        String s = text.substring(pos, end);
        pos = end + 1;
        return s;
    }

    private void skipSpaces() {
        while (pos < text.length() && (text.charAt(pos) == ' ' || text.charAt(pos) == '\t')) pos++;
    }

    private void skipBlankAndComments() {
        while (pos < text.length()) {
            char c = text.charAt(pos);
            if (c == ' ' || c == '\t' || c == '\r') pos++;
            else if (c == '\n') {
                pos++;
                line++;
            } else if (c == '#') {
                while (pos < text.length() && text.charAt(pos) != '\n') pos++;
            } else return;
        }
    }

    private void endOfLine() {
        skipSpaces();
        if (peek(0) == '#') while (pos < text.length() && text.charAt(pos) != '\n') pos++;
        if (peek(0) == '\r') pos++;
        if (pos < text.length() && text.charAt(pos) != '\n') throw error("unexpected " + describe(text.charAt(pos)) + " after the value");
    }

    private void expect(char c) {
        if (peek(0) != c) throw error("expected '" + c + "', found " + describe(peek(0)));
        pos++;
    }

    private char peek(int ahead) {
        return pos + ahead < text.length() ? text.charAt(pos + ahead) : '\u0000';
    }

    private static String describe(char c) {
        return c == '\u0000' ? "the end of the file" : c == '\n' ? "the end of the line" : "'" + c + "'";
    }

    private IllegalArgumentException error(String message) {
        return new IllegalArgumentException(file + ":" + line + ": " + message);
    }
}
