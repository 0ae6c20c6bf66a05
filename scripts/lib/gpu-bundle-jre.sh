# sourced by scripts/gpu-check and scripts/gpu-bench: unpack target/gpu-bundle/jre.tgz (scripts/gpu-bundle
# gzips the runtime to fit the device tool's carry limit) into target/gpu-bundle/jre once.
# In: $B (the bundle folder). Returns non-zero with a message when there is no runtime.
sumi_bundle_jre() {
    [[ -x "$B/jre/bin/java" ]] && return 0
    if [[ -f "$B/jre.tgz" ]]; then
        tar xzf "$B/jre.tgz" -C "$B" || { echo "gpu: cannot unpack $B/jre.tgz" >&2; return 1; }
        [[ -x "$B/jre/bin/java" ]] && return 0
    fi
    echo "gpu: no Java runtime in $B (jre/ or jre.tgz): run scripts/gpu-bundle first on a machine with JDK 25 + Maven + nvcc, then carry target/gpu-bundle here" >&2
    return 1
}
