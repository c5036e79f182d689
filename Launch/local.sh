#!/usr/bin/env bash
# Trains one config in a single process (no mpirun), the local debug mode.
#
# Variables:
#   CONFIG    the YAML config (default Configs/default.yaml)
#   THREADS   BLAS threads (default: the config's `threads`, else all cores)
# Extra arguments go to `rechub train` (e.g. --set epochs=2).
set -euo pipefail

cd "$(dirname "$0")/.."
CONFIG="${CONFIG:-Configs/default.yaml}"
args=(
  train
  --config "$CONFIG"
)
[ -n "${THREADS:-}" ] && args+=(--set "threads=$THREADS")
[ -x .build/release/rechub ] || bash Launch/setup.sh
exec .build/release/rechub "${args[@]}" "$@"
