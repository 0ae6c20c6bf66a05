package dev.sumi.device;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KernelManifestTest {

    static KernelManifest parse(String text) throws IOException {
        return KernelManifest.parse(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void parsesCTypes() throws IOException {
        KernelManifest m = parse("# comment\nk\t1\tconst __half* __restrict;float;int64_t;int;unsigned int;double\tx.cu\n");
        KernelSignature s = m.get("k");
        assertTrue(s.cooperative());
        assertEquals(List.of(ParamKind.PTR, ParamKind.F32, ParamKind.I64, ParamKind.I32, ParamKind.U32, ParamKind.F64), s.params());
    }

    @Test
    void rejectsUnsupportedParameterTypesNamingTheKernel() {
        IOException e = assertThrows(IOException.class, () -> parse("k\t0\tstruct foo\tx.cu\n"));
        assertTrue(e.getMessage().contains("kernel k") && e.getMessage().contains("x.cu"), e.getMessage());
        assertThrows(IOException.class, () -> parse("k\t0\n"));
    }

    @Test
    void bundledManifestListsEveryFamily() {
        KernelManifest m = KernelManifest.bundled();
        for (String k : List.of("fill_f32", "cast_f16_bf16", "add_bf16", "scale_f16", "axpy_f32", "softmax_rows_bf16",
                "reduce_sum_squares_f16", "selftest_shuffles")) {
            assertTrue(m.contains(k), k);
        }
    }

    @Test
    void scalarsWidenButDoNotNarrowSilently() {
        KernelSignature s = new KernelSignature("k", List.of(ParamKind.I32, ParamKind.I64, ParamKind.F32), false, "x.cu");
        Object[] b = s.bind(null, 3L, 4, 1.5);
        assertEquals(3, b[0]);
        assertEquals(4L, b[1]);
        assertEquals(1.5f, b[2]);
        assertThrows(DeviceException.class, () -> s.bind(null, 1L << 40, 4, 1.5f));
        assertThrows(DeviceException.class, () -> s.bind(null, 1, 2.0f, 1.5f));
    }
}
