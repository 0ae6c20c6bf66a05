package dev.sumi.tensor.safetensors;

/** Formatting for one-line error messages: names from a file may hold anything, messages may not. */
final class Messages {
    private Messages() {}

    private static final int MAX_QUOTED = 120;

    /**
     * {@code s} in double quotes, with quotes, backslashes and control characters escaped (so the message stays
     * on one line) and cut after {@value #MAX_QUOTED} characters (a name may be megabytes long).
     */
    static String quote(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder(Math.min(s.length(), MAX_QUOTED) + 8).append('"');
        for (int i = 0; i < s.length(); i++) {
            if (i == MAX_QUOTED) {
                b.append("\"... (").append(s.length()).append(" characters)");
                return b.toString();
            }
            appendEscaped(b, s.charAt(i));
        }
        return b.append('"').toString();
    }

    /** {@code s} with every control character (line breaks included) written as an escape. */
    static String oneLine(String s) {
        StringBuilder b = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                if (b == null) b = new StringBuilder(s.length() + 16).append(s, 0, i);
                appendEscaped(b, c);
            } else if (b != null) {
                b.append(c);
            }
        }
        return b == null ? s : b.toString();
    }

    private static void appendEscaped(StringBuilder b, char c) {
        switch (c) {
            case '"' -> b.append("\\\"");
            case '\\' -> b.append("\\\\");
            case '\n' -> b.append("\\n");
            case '\r' -> b.append("\\r");
            case '\t' -> b.append("\\t");
            default -> {
                if (c < 0x20 || c == 0x7f) b.append(String.format("\\u%04x", (int) c));
                else b.append(c);
            }
        }
    }
}
