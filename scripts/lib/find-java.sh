# find-java.sh: sourced by ./sumi and scripts/*; sets SUMI_JAVA_HOME to a JDK >= 25 or fails with a message.
# Looks at SUMI_JAVA_HOME, JAVA_HOME, then the usual install places, then `java` on PATH.

sumi_java_major() {  # JAVA_HOME_CANDIDATE -> major version on stdout, or nothing
    local home="$1" v=""
    [[ -x "$home/bin/java" ]] || return 0
    if [[ -f "$home/release" ]]; then
        v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$home/release")
    fi
    if [[ -z "$v" ]]; then
        v=$("$home/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
    fi
    echo "$v"
}

sumi_find_java() {
    local c major candidates=()
    [[ -n "${SUMI_JAVA_HOME:-}" ]] && candidates+=("$SUMI_JAVA_HOME")
    [[ -n "${JAVA_HOME:-}" ]] && candidates+=("$JAVA_HOME")
    for c in /usr/lib/jvm/* /opt/java/* /opt/jdk* /usr/local/lib/jvm/* "$HOME"/.sdkman/candidates/java/* "$HOME"/.jdks/* \
             /Library/Java/JavaVirtualMachines/*/Contents/Home; do
        [[ -d "$c" ]] && candidates+=("$c")
    done
    if command -v java >/dev/null 2>&1; then
        c=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
        candidates+=("$c")
    fi
    for c in "${candidates[@]}"; do
        major=$(sumi_java_major "$c")
        if [[ -n "$major" && "$major" -ge 25 && -x "$c/bin/javac" ]]; then
            SUMI_JAVA_HOME="$c"
            export SUMI_JAVA_HOME
            return 0
        fi
    done
    echo "sumi: no JDK 25 or newer found (looked at \$SUMI_JAVA_HOME, \$JAVA_HOME, /usr/lib/jvm, /opt/java, ~/.sdkman, PATH)." >&2
    echo "sumi: install one (e.g. Temurin 25: https://adoptium.net) and set JAVA_HOME to it." >&2
    return 1
}
