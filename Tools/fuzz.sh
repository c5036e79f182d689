#!/usr/bin/env bash
# Builds the libFuzzer targets in Tools/fuzz (swiftc -sanitize=fuzzer) and runs one or all
# of them for a fixed time, starting from the committed seeds in Tools/fuzz/corpus/<target>/.
# New corpus entries and crash files go to CORPUS_OUT, never into the committed seeds.
#
# Variables:
#   TARGET              FuzzCSV, FuzzConfig, FuzzCheckpoint or all (default all)
#   SECONDS_PER_TARGET  run time of each target, seconds (default 600)
#   JOBS                targets run at once, one libFuzzer process each (default 2)
#   CORPUS_OUT          folder for new corpus entries, crashes and logs (default /tmp/rechub-fuzz)
#   SCRATCH             SwiftPM build folder, kept outside the repository (default /work/.build-fuzz)
#
# A thrown error is a pass; a crash, trap, timeout (-timeout=10) or an allocation past
# -rss_limit_mb=2048 is a finding, written as CORPUS_OUT/<target>/artifacts/crash-* (or oom-*,
# timeout-*). Reproduce one with: $SCRATCH/release/<target> <file>
set -euo pipefail

TARGET="${TARGET:-all}"
SECONDS_PER_TARGET="${SECONDS_PER_TARGET:-600}"
JOBS="${JOBS:-2}"
CORPUS_OUT="${CORPUS_OUT:-/tmp/rechub-fuzz}"
SCRATCH="${SCRATCH:-/work/.build-fuzz}"

root="$(cd "$(dirname "$0")/.." && pwd)"

swift build \
    -c release \
    --package-path "$root/Tools/fuzz" \
    --scratch-path "$SCRATCH" \
    -Xswiftc -sanitize=fuzzer \
    -Xswiftc -parse-as-library

# The longest input each target is given: a few rows of CSV, a config with overrides, a tiny
# checkpoint (the seeds are at most ~26 KB).
max_len() {
    case "$1" in
        FuzzCSV) echo 4096 ;;
        FuzzConfig) echo 8192 ;;
        FuzzCheckpoint) echo 65536 ;;
        *) echo "unknown target '$1'" >&2; exit 2 ;;
    esac
}

run_target() {
    local target="$1"
    local out="$CORPUS_OUT/$target"
    mkdir -p "$out/corpus" "$out/artifacts"
    "$SCRATCH/release/$target" \
        -max_total_time="$SECONDS_PER_TARGET" \
        -max_len="$(max_len "$target")" \
        -rss_limit_mb=2048 \
        -malloc_limit_mb=2048 \
        -timeout=10 \
        -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/" \
        "$out/corpus" \
        "$root/Tools/fuzz/corpus/$target" \
        > "$out/fuzz.log" 2>&1 \
        && status=0 || status=$?
    echo "== $target (exit $status): $(grep -E '^#[0-9]+[[:space:]].*cov:' "$out/fuzz.log" | tail -1)"
    grep -E '^(stat::|==[0-9]+== ERROR|SUMMARY)' "$out/fuzz.log" || true
    return "$status"
}

if [ "$TARGET" = all ]; then
    targets=(FuzzCSV FuzzConfig FuzzCheckpoint)
else
    targets=("$TARGET")
fi

failed=0
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
    run_target "$t" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
exit "$failed"
