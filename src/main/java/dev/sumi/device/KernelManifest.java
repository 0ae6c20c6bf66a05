package dev.sumi.device;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every kernel of cuda-kernels/, as written by the build (native/gen/KernelScan.java) into
 * {@code kernels/kernels.manifest}: one line per kernel, {@code name<TAB>cooperative<TAB>C parameter types separated by ';'<TAB>source}.
 * Both devices launch by these names and check arguments against these signatures.
 */
public final class KernelManifest {
    public static final String RESOURCE = "/kernels/kernels.manifest";

    private final Map<String, KernelSignature> kernels;

    private KernelManifest(Map<String, KernelSignature> kernels) {
        this.kernels = Collections.unmodifiableMap(kernels);
    }

    private static volatile KernelManifest bundled;

    /** The manifest shipped in the jar (or on the test classpath). */
    public static KernelManifest bundled() {
        KernelManifest m = bundled;
        if (m == null) {
            synchronized (KernelManifest.class) {
                if (bundled == null) {
                    try (InputStream in = KernelManifest.class.getResourceAsStream(RESOURCE)) {
                        if (in == null) throw new DeviceException("kernel manifest " + RESOURCE + " is missing: the kernels were not built (run ./sumi build or mvn package)");
                        bundled = parse(in);
                    } catch (IOException e) {
                        throw new DeviceException("cannot read kernel manifest " + RESOURCE + ": " + e.getMessage(), e);
                    }
                }
                m = bundled;
            }
        }
        return m;
    }

    public static KernelManifest parse(InputStream in) throws IOException {
        Map<String, KernelSignature> map = new LinkedHashMap<>();
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        String line;
        int lineNo = 0;
        while ((line = r.readLine()) != null) {
            lineNo++;
            if (line.isBlank() || line.startsWith("#")) continue;
            String[] f = line.split("\t", -1);
            if (f.length != 4) throw new IOException("kernel manifest line " + lineNo + ": expected 4 tab-separated fields");
            List<ParamKind> kinds = new ArrayList<>();
            if (!f[2].isEmpty()) {
                for (String type : f[2].split(";")) {
                    try {
                        kinds.add(ParamKind.ofCType(type));
                    } catch (IllegalArgumentException e) {
                        throw new IOException("kernel " + f[0] + " (" + f[3] + "): " + e.getMessage());
                    }
                }
            }
            map.put(f[0], new KernelSignature(f[0], kinds, f[1].equals("1"), f[3]));
        }
        return new KernelManifest(map);
    }

    public KernelSignature get(String name) {
        KernelSignature s = kernels.get(name);
        if (s == null) {
            throw new DeviceException("unknown kernel '" + name + "' (" + kernels.size() + " kernels are built; "
                    + "is it declared extern \"C\" __global__ in cuda-kernels/?)");
        }
        return s;
    }

    public boolean contains(String name) {
        return kernels.containsKey(name);
    }

    public Map<String, KernelSignature> all() {
        return kernels;
    }
}
