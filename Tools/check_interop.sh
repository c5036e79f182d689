#!/usr/bin/env bash
# Checks RecHub's files against the real tools (issue: serve and see):
#   - ONNX: every model in Configs/ trained briefly, exported, and run by onnxruntime on test
#     rows (some with out-of-vocabulary ids); the largest difference from `rechub predict`
#     must be at most 1e-5 per task (Tools/interop/check_onnx.py).
#   - TensorBoard: its own event reader loads a run's scalars; their count and last values
#     equal train_log.jsonl (Tools/interop/check_tensorboard.py).
# It installs onnxruntime, tensorboard and numpy from PyPI into a virtualenv outside the
# repository ($RECHUB_INTEROP_VENV, default /tmp/rechub-interop-venv), builds rechub if it
# is missing, prints one line per check and a closing line "N passed, M failed", and exits
# non-zero on any failure. `.ci/run` calls it after the Swift test suite.
#
#   bash Tools/check_interop.sh            # all checks
#   bash Tools/check_interop.sh onnx       # only the ONNX checks (or: tensorboard)
#   RECHUB_BIN=path/to/rechub bash Tools/check_interop.sh   # check another build
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
SWIFT="${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}"
VENV="${RECHUB_INTEROP_VENV:-/tmp/rechub-interop-venv}"
only="${1:-all}"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import onnxruntime, tensorboard, numpy" 2>/dev/null; then
    echo "check_interop: installing onnxruntime, tensorboard and numpy into $VENV"
    python3 -m venv "$VENV" 2>/dev/null || {
        # Debian's python3 needs python3-venv for `-m venv`.
        if [ "$(id -u)" = 0 ]; then apt-get install -y -qq python3-venv >/dev/null; else sudo apt-get install -y -qq python3-venv >/dev/null; fi
        python3 -m venv "$VENV"
    }
    "$VENV/bin/pip" install -q --disable-pip-version-check onnxruntime tensorboard numpy
fi
# The binary under test: $RECHUB_BIN, else this tree's release build (Launch/test.sh leaves
# one), rebuilt only when a source is newer than it (a stale binary gave false failures).
if [ -n "${RECHUB_BIN:-}" ]; then
    bin=$(realpath "$RECHUB_BIN")
else
    bin="$root/.build/release/rechub"
    if [ ! -x "$bin" ] || [ -n "$(find Sources Package.swift -newer "$bin" -print -quit)" ]; then
        "$SWIFT" build -c release -Xswiftc -enable-testing --product rechub
    fi
fi

work=$(mktemp -d /tmp/rechub-interop.XXXXXX)
trap 'rm -rf "$work"' EXIT
log="$work/results.txt"
: > "$log"
export OPENBLAS_NUM_THREADS=1
# Each checker prints "PASS <what>" or "FAIL <what>: <why>" lines; a checker that dies
# without saying so counts as one failure.
run_checker() {
    local name=$1; shift
    local before
    before=$(grep -c "^FAIL" "$log" || true)
    mkdir -p "$work/$name"
    if ! "$VENV/bin/python" "$@" --rechub "$bin" --work "$work/$name" --repo "$root" | tee -a "$log"; then
        [ "$(grep -c "^FAIL" "$log" || true)" -gt "$before" ] \
            || echo "FAIL $name: the checker exited with an error" | tee -a "$log"
    fi
}
if [ "$only" = all ] || [ "$only" = onnx ]; then run_checker onnx Tools/interop/check_onnx.py; fi
if [ "$only" = all ] || [ "$only" = tensorboard ]; then run_checker tensorboard Tools/interop/check_tensorboard.py; fi

passed=$(grep -c "^PASS" "$log" || true)
failed=$(grep -c "^FAIL" "$log" || true)
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
