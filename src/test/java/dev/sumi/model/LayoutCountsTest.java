package dev.sumi.model;

import dev.sumi.model.clip.TextEncoderConfig;
import dev.sumi.model.clip.TextEncoderLayout;
import dev.sumi.model.unet.UNetConfig;
import dev.sumi.model.unet.UNetLayout;
import dev.sumi.model.vae.VaeConfig;
import dev.sumi.model.vae.VaeLayout;
import dev.sumi.nn.ParamSpec;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Tensor counts and parameter totals of the standard checkpoints, produced from the configs alone. */
class LayoutCountsTest {

    static long total(List<ParamSpec> ps) {
        return ps.stream().mapToLong(ParamSpec::numel).sum();
    }

    static void assertUnique(List<ParamSpec> ps) {
        assertEquals(ps.size(), new HashSet<>(ps.stream().map(ParamSpec::name).toList()).size(), "duplicate names");
    }

    @Test
    void sd15() {
        List<ParamSpec> unet = UNetLayout.parameters(UNetConfig.sd1());
        List<ParamSpec> vae = VaeLayout.parameters(VaeConfig.sd());
        List<ParamSpec> te = TextEncoderLayout.parameters(TextEncoderConfig.clipL());
        assertUnique(unet);
        assertUnique(vae);
        assertUnique(te);
        assertEquals(686, unet.size());
        assertEquals(859_520_964L, total(unet));
        assertEquals(248, vae.size());
        assertEquals(83_653_863L, total(vae));
        assertEquals(196, te.size());
        assertEquals(123_060_480L, total(te));
    }

    @Test
    void sd21AndSdxl() {
        System.out.println("sd21 unet " + UNetLayout.parameters(UNetConfig.sd2()).size() + " " + total(UNetLayout.parameters(UNetConfig.sd2())));
        System.out.println("sdxl unet " + UNetLayout.parameters(UNetConfig.sdxl()).size() + " " + total(UNetLayout.parameters(UNetConfig.sdxl())));
        System.out.println("openclip-h " + TextEncoderLayout.parameters(TextEncoderConfig.openClipH()).size() + " " + total(TextEncoderLayout.parameters(TextEncoderConfig.openClipH())));
        System.out.println("bigG " + TextEncoderLayout.parameters(TextEncoderConfig.openClipBigG()).size() + " " + total(TextEncoderLayout.parameters(TextEncoderConfig.openClipBigG())));
    }
}
