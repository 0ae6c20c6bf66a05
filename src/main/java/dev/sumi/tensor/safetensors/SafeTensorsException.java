package dev.sumi.tensor.safetensors;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A safetensors file that cannot be read as one: its message is a single line {@code "<file>: <reason>"}.
 * <p>
 * It is an {@link IOException} (checked) because a malformed file is bad input of the same kind as an unreadable
 * one: the callers that open files already handle {@code IOException}, and the CLI prints either as one line.
 */
public final class SafeTensorsException extends IOException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;
    private final String reason;

    public SafeTensorsException(Path file, String reason) {
        this(file, reason, null);
    }

    public SafeTensorsException(Path file, String reason, Throwable cause) {
        super(Messages.oneLine(file + ": " + reason), cause);
        this.file = file;
        this.reason = reason;
    }

    /** The file the message names. */
    public Path file() {
        return file;
    }

    /** The message without the file name. */
    public String reason() {
        return reason;
    }
}
