package dev.sumi.lora;

import java.util.Arrays;

/**
 * One LoRA module as host data, the unit a kohya-format file stores under three keys:
 * {@code <kohyaName>.lora_down.weight}, {@code <kohyaName>.lora_up.weight} and {@code <kohyaName>.alpha}.
 * <p>
 * Shapes are kohya's ({@code networks/lora.py} LoRAModule): a Linear module has down {@code [r, in]} and
 * up {@code [out, r]}; a Conv2d module (LoCon) has down {@code [r, in, k, k]} (the base conv's kernel) and up
 * {@code [out, r, 1, 1]}. The module adds {@code up(down(x)) * multiplier * alpha / r}. The arrays are
 * row-major and not copied.
 *
 * @param kohyaName e.g. {@code lora_unet_down_blocks_0_attentions_0_proj_in}: letters, digits and '_' only
 * @param down      [r * in (* k * k)]
 * @param up        [out * r]
 * @param alpha     kohya's alpha; kohya writes it as a 0-d tensor in the file's dtype
 */
public record LoraTensors(String kohyaName, float[] down, long[] downShape, float[] up, long[] upShape, float alpha) {

    public LoraTensors {
        if (kohyaName == null || kohyaName.isEmpty() || !kohyaName.chars().allMatch(c -> c == '_' || c < 128 && Character.isLetterOrDigit(c))) {
            throw new IllegalArgumentException("LoRA module name '" + kohyaName + "': kohya names are letters, digits and '_' only");
        }
        downShape = downShape.clone();
        upShape = upShape.clone();
        String where = "LoRA module " + kohyaName + ": ";
        if (downShape.length != 2 && downShape.length != 4) {
            throw new IllegalArgumentException(where + "lora_down has shape " + Arrays.toString(downShape) + ", expected [r, in] or [r, in, k, k]");
        }
        boolean conv = downShape.length == 4;
        if (upShape.length != downShape.length || upShape[1] != downShape[0] || conv && (upShape[2] != 1 || upShape[3] != 1)) {
            throw new IllegalArgumentException(where + "lora_up has shape " + Arrays.toString(upShape) + ", expected [out, " + downShape[0]
                    + (conv ? ", 1, 1]" : "]") + " for lora_down " + Arrays.toString(downShape));
        }
        if (conv && downShape[2] != downShape[3]) throw new IllegalArgumentException(where + "lora_down kernel is not square: " + Arrays.toString(downShape));
        for (long d : downShape) if (d <= 0) throw new IllegalArgumentException(where + "lora_down has shape " + Arrays.toString(downShape));
        for (long d : upShape) if (d <= 0) throw new IllegalArgumentException(where + "lora_up has shape " + Arrays.toString(upShape));
        if (down.length != numel(downShape)) throw new IllegalArgumentException(where + down.length + " lora_down values for shape " + Arrays.toString(downShape));
        if (up.length != numel(upShape)) throw new IllegalArgumentException(where + up.length + " lora_up values for shape " + Arrays.toString(upShape));
    }

    static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    @Override
    public long[] downShape() {
        return downShape.clone();
    }

    @Override
    public long[] upShape() {
        return upShape.clone();
    }

    public int rank() {
        return (int) downShape[0];
    }

    public long inFeatures() {
        return downShape[1];
    }

    public long outFeatures() {
        return upShape[0];
    }

    public boolean isConv() {
        return downShape.length == 4;
    }

    /** The conv kernel size (1 for a Linear module). */
    public long kernel() {
        return isConv() ? downShape[2] : 1;
    }

    /** The factor the module's output is scaled by at multiplier 1. */
    public double scale() {
        return alpha / (double) rank();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LoraTensors t && kohyaName.equals(t.kohyaName) && Arrays.equals(down, t.down) && Arrays.equals(downShape, t.downShape)
                && Arrays.equals(up, t.up) && Arrays.equals(upShape, t.upShape) && Float.compare(alpha, t.alpha) == 0;
    }

    @Override
    public int hashCode() {
        return kohyaName.hashCode() * 31 + Arrays.hashCode(downShape);
    }

    @Override
    public String toString() {
        return kohyaName + " down " + Arrays.toString(downShape) + " up " + Arrays.toString(upShape) + " alpha " + alpha;
    }
}
