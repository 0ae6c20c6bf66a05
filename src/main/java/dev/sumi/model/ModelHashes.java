package dev.sumi.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The hashes the SD tools show for a .safetensors file:
 * <ul>
 *   <li>{@code sha256}: of the whole file, AUTOMATIC1111's checkpoint hash (it shows the first 10 hex digits);</li>
 *   <li>{@code sshsModelHash}: of the bytes after the header, kohya's {@code sshs_model_hash} (additional-networks' "new hash"),
 *       which does not change when only the metadata does;</li>
 *   <li>{@code legacyHash}: the first 8 hex digits of the sha256 of the 64 KiB at offset 1 MiB, A1111's old "model hash"
 *       and kohya's {@code sshs_legacy_hash}.</li>
 * </ul>
 */
public record ModelHashes(String sha256, String sshsModelHash, String legacyHash) {

    public String shortHash() {
        return sha256.substring(0, 10);
    }

    public static ModelHashes of(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            ByteBuffer head = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(head, 0);
            long dataStart = size >= 8 ? Math.min(size, 8 + Math.max(0, head.getLong(0))) : size;
            MessageDigest whole = newDigest(), data = newDigest();
            ByteBuffer buf = ByteBuffer.allocateDirect(1 << 20);
            long pos = 0;
            while (pos < size) {
                buf.clear();
                int n = ch.read(buf, pos);
                if (n <= 0) break;
                buf.flip();
                ByteBuffer forData = buf.duplicate();
                whole.update(buf);
                long skip = Math.max(0, dataStart - pos);
                if (skip < n) {
                    forData.position((int) skip);
                    data.update(forData);
                }
                pos += n;
            }
            MessageDigest legacy = newDigest();
            ByteBuffer window = ByteBuffer.allocate(0x10000);
            if (size > 0x100000) {
                ch.read(window, 0x100000);
                window.flip();
                legacy.update(window);
            }
            HexFormat hex = HexFormat.of();
            return new ModelHashes(hex.formatHex(whole.digest()), hex.formatHex(data.digest()), hex.formatHex(legacy.digest()).substring(0, 8));
        }
    }

    private static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
