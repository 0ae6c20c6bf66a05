package dev.sumi.lora;

import dev.sumi.tensor.safetensors.SafeTensorsWriter;
import dev.sumi.tensor.safetensors.StoredType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A1111's lookup of {@code <lora:NAME>} in a folder: stems, ss_output_name aliases, subfolders, collisions, errors. */
class LoraLibraryTest {
    @TempDir
    Path dir;

    Path lora(String relative, String outputName) throws Exception {
        Path p = dir.resolve(relative);
        Files.createDirectories(p.getParent());
        SafeTensorsWriter w = new SafeTensorsWriter();
        if (outputName != null) w.metadata("ss_output_name", outputName);
        w.addFloats("lora_te_text_model_encoder_layers_0_mlp_fc1.alpha", StoredType.F32, new long[0], new float[] {1});
        w.write(p, false);
        return p;
    }

    @Test
    void findsByStemAliasAndInSubfolders() throws Exception {
        Path cat = lora("cat_v2.safetensors", "catStyle");
        Path dog = lora("animals/dogs/dog.SafeTensors", null);
        Path pt = dir.resolve("old.pt");
        Files.writeString(pt, "pickle");
        Files.writeString(dir.resolve("notes.txt"), "not a LoRA");
        LoraLibrary lib = LoraLibrary.scan(dir);
        assertEquals(3, lib.entries().size());
        assertEquals(cat, lib.resolve("cat_v2"));
        assertEquals(cat, lib.resolve("catStyle"));
        assertEquals(dog, lib.resolve("dog"), "a subfolder, any case of the extension");
        assertThrows(IllegalArgumentException.class, () -> lib.resolve("Cat_v2"), "names are case-sensitive");
        var e = assertThrows(IllegalArgumentException.class, () -> lib.resolve("old"));
        assertEquals(pt + ": LoRA 'old' is a pickle file; only .safetensors is supported (convert it first)", e.getMessage());
    }

    @Test
    void unknownNamesListCloseOnes() throws Exception {
        lora("cat_v2.safetensors", "catStyle");
        lora("cat_v3.safetensors", null);
        lora("sub/landscape.safetensors", null);
        LoraLibrary lib = LoraLibrary.scan(dir);
        var e = assertThrows(IllegalArgumentException.class, () -> lib.resolve("cat_v1"));
        assertEquals("LoRA 'cat_v1' is not in " + dir + " (3 files, searched by file name and ss_output_name); close names: cat_v2, cat_v3", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> lib.resolve("zzzzzzzzzz"));
        assertTrue(!e.getMessage().contains("close names"), e.getMessage());
        assertThrows(java.io.IOException.class, () -> LoraLibrary.scan(dir.resolve("missing")));
    }

    @Test
    void aTakenAliasIsForbiddenAndLaterFilesWin() throws Exception {
        // walk order: dir/ before dir/a/ before dir/b/; in a folder, natural order (2 before 10)
        Path first = lora("style.safetensors", null);
        Path other = lora("a/other.safetensors", "style");   // alias taken by the stem "style": forbidden
        Path v10 = lora("b/x10.safetensors", "shared");
        Path v2 = lora("b/x2.safetensors", "shared");        // x2 walks before x10, so x10 finds "shared" taken
        LoraLibrary lib = LoraLibrary.scan(dir);
        assertEquals(List.of(first, other, v2, v10), lib.entries().stream().map(LoraLibrary.Entry::file).toList());
        assertEquals(first, lib.resolve("style"), "a forbidden alias finds only the file with that stem");
        assertEquals(other, lib.resolve("other"));
        assertEquals(v2, lib.resolve("x2"));
        assertThrows(IllegalArgumentException.class, () -> lib.resolve("shared"), "forbidden, and no file has the stem 'shared'");
        assertThrows(IllegalArgumentException.class, () -> lib.resolve("none"));
    }
}
