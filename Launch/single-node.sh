#!/usr/bin/env bash
# Trains one config with N MPI ranks on this node (data-parallel: every rank holds a replica
# and takes its slice of each global batch; rank 0 evaluates and writes files).
#
# Variables:
#   RANKS     number of ranks (default 2)
#   CONFIG    the YAML config (default Configs/default.yaml)
#   THREADS   BLAS threads per rank (default: cores ÷ RANKS, at least 1)
#   MPIRUN    the launcher (default mpirun)
#   BINARY    the rechub executable (default .build/release/rechub, built by Launch/setup.sh)
# Extra arguments go to `rechub train` (e.g. --set epochs=2). Runs as root too (OpenMPI's
# root guard is lifted for this launch only). Ranks are not pinned to cores (--bind-to none),
# so each rank's BLAS threads can use the cores it was given.
# Ctrl-C (or SIGTERM, SIGUSR1) stops the job keeping its state: every rank finishes its step and
# rank 0 writes a checkpoint (Launch/lib/stoppable.sh); a second Ctrl-C ends it at once.
set -euo pipefail

cd "$(dirname "$0")/.."
RANKS="${RANKS:-2}"
CONFIG="${CONFIG:-Configs/default.yaml}"
cores="$(nproc)"
THREADS="${THREADS:-$(( cores / RANKS > 0 ? cores / RANKS : 1 ))}"
MPIRUN="${MPIRUN:-mpirun}"
BINARY="${BINARY:-.build/release/rechub}"
[ -x "$BINARY" ] || bash Launch/setup.sh

mpi_args=(
  -np "$RANKS"
  --bind-to none
)
[ "$RANKS" -gt "$cores" ] && mpi_args+=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

source Launch/lib/stoppable.sh
run_stoppable "$MPIRUN" "${mpi_args[@]}" \
  "$BINARY" train \
  --config "$CONFIG" \
  --set "threads=$THREADS" \
  "$@"
