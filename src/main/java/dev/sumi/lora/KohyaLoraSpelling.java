package dev.sumi.lora;

import java.math.BigDecimal;
import java.util.List;
import java.util.Map;

/**
 * Values spelled the way kohya's Python writes them into {@code ss_*} metadata: {@code str(v)} of ints, floats,
 * bools, None and tuples, and {@code json.dumps(v)} with its defaults ({@code ", "} and {@code ": "} separators,
 * {@code ensure_ascii=True}, dicts in insertion order). Tools parse these strings back with Python, so
 * {@code 4.0}, {@code 1e-05} and {@code None} must be exactly Python's.
 */
public final class KohyaLoraSpelling {
    private KohyaLoraSpelling() {}

    /** {@code str(x)} / {@code repr(x)} of a Python float: the shortest round-trip digits, fixed notation for 1e-4 <= |x| < 1e16. */
    public static String pyFloat(double x) {
        if (Double.isNaN(x)) return "nan";
        if (Double.isInfinite(x)) return x > 0 ? "inf" : "-inf";
        if (x == 0) return (Double.doubleToRawLongBits(x) < 0 ? "-" : "") + "0.0";
        // Java's Double.toString gives the shortest digits that round-trip (JDK 19+), as Python's repr does
        BigDecimal d = new BigDecimal(Double.toString(Math.abs(x))).stripTrailingZeros();
        String digits = d.unscaledValue().toString();
        int n = digits.length();
        int decpt = n - d.scale();   // x = 0.<digits> * 10^decpt
        StringBuilder b = new StringBuilder(x < 0 ? "-" : "");
        if (decpt > -4 && decpt <= 16) {   // Python's float_repr_style 'short' switches to exponent form outside this
            if (decpt <= 0) b.append("0.").repeat('0', -decpt).append(digits);
            else if (decpt >= n) b.append(digits).repeat('0', decpt - n).append(".0");
            else b.append(digits, 0, decpt).append('.').append(digits, decpt, n);
        } else {
            b.append(digits.charAt(0));
            if (n > 1) b.append('.').append(digits, 1, n);
            int e = decpt - 1;
            b.append('e').append(e < 0 ? '-' : '+');
            if (Math.abs(e) < 10) b.append('0');
            b.append(Math.abs(e));
        }
        return b.toString();
    }

    /** {@code str(v)} of a Python value: None, bool, int, float, str, or a tuple given as a List. */
    public static String pyStr(Object v) {
        return switch (v) {
            case null -> "None";
            case Boolean bool -> bool ? "True" : "False";
            case Double f -> pyFloat(f);
            case Float f -> pyFloat(f);
            case Integer i -> i.toString();
            case Long l -> l.toString();
            case String s -> s;
            case List<?> tuple -> {
                StringBuilder b = new StringBuilder("(");
                for (int i = 0; i < tuple.size(); i++) b.append(i == 0 ? "" : ", ").append(pyRepr(tuple.get(i)));
                yield b.append(tuple.size() == 1 ? ",)" : ")").toString();
            }
            default -> throw new IllegalArgumentException("no Python spelling for " + v.getClass().getSimpleName());
        };
    }

    private static String pyRepr(Object v) {
        if (v instanceof String s) return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'";
        return pyStr(v);
    }

    /** {@code json.dumps(v)}: Maps (insertion order, string keys), Lists, Strings, Integers/Longs, Doubles, Booleans, null. */
    public static String jsonDumps(Object v) {
        StringBuilder b = new StringBuilder();
        dump(b, v);
        return b.toString();
    }

    private static void dump(StringBuilder b, Object v) {
        switch (v) {
            case null -> b.append("null");
            case Boolean bool -> b.append(bool ? "true" : "false");
            case Integer i -> b.append(i);
            case Long l -> b.append(l);
            case Double f -> b.append(Double.isNaN(f) ? "NaN" : Double.isInfinite(f) ? (f > 0 ? "Infinity" : "-Infinity") : pyFloat(f));
            case String s -> string(b, s);
            case Map<?, ?> m -> {
                b.append('{');
                boolean first = true;
                for (var e : m.entrySet()) {
                    if (!(e.getKey() instanceof String k)) throw new IllegalArgumentException("JSON object keys must be strings: " + e.getKey());
                    if (!first) b.append(", ");
                    first = false;
                    string(b, k);
                    b.append(": ");
                    dump(b, e.getValue());
                }
                b.append('}');
            }
            case List<?> l -> {
                b.append('[');
                for (int i = 0; i < l.size(); i++) {
                    if (i > 0) b.append(", ");
                    dump(b, l.get(i));
                }
                b.append(']');
            }
            default -> throw new IllegalArgumentException("no JSON spelling for " + v.getClass().getSimpleName());
        }
    }

    /** json's ensure_ascii escaping: everything outside ' '..'~' as an escape, UTF-16 units as \\uXXXX. */
    private static void string(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '\b' -> b.append("\\b");
                case '\f' -> b.append("\\f");
                default -> {
                    if (c >= ' ' && c <= '~') b.append(c);
                    else b.append(String.format("\\u%04x", (int) c));
                }
            }
        }
        b.append('"');
    }
}
