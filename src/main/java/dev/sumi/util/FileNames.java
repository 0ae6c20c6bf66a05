package dev.sumi.util;

import java.nio.file.Path;

/** File-name pieces the commands and writers share. */
public final class FileNames {
    private FileNames() {}

    /** The name without its last extension: "my-lora.safetensors" -> "my-lora" (a leading dot is not an extension). */
    public static String stem(Path file) {
        String n = file.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }
}
