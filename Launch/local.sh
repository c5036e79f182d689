#!/usr/bin/env bash
# Trains one config in a single process (no mpirun), the local debug mode. Runs in the current
# folder: relative paths (arguments, the config's output_dir and data) are taken from there.
#
# Variables:
#   CONFIG    the YAML config of a fresh run (default: the repository's Configs/default.yaml;
#             a --resume continues with the run's stored config)
#   THREADS   BLAS threads (default: the config's `threads`, else all cores)
# Extra arguments go to `rechub train` (e.g. --set epochs=2).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
args=(train)
source "$repo/Launch/lib/config_args.sh"
args+=("${config_args[@]}")
[ -n "${THREADS:-}" ] && args+=(--set "threads=$THREADS")
[ -x "$repo/.build/release/rechub" ] || bash "$repo/Launch/setup.sh"
exec "$repo/.build/release/rechub" "${args[@]}" "$@"
