#!/usr/bin/env bash
# Trains one config with N MPI ranks on this node (data-parallel: every rank holds a replica
# and takes its slice of each global batch; rank 0 evaluates and writes files). Runs in the
# current folder: relative paths (arguments, the config's output_dir and data) are taken from there.
#
# Variables:
#   RANKS     number of ranks (default 2)
#   CONFIG    the YAML config of a fresh run (default: the repository's Configs/default.yaml;
#             a --resume continues with the run's stored config)
#   THREADS   BLAS threads per rank (default: the config's `threads`, whose 0 is cores ÷ ranks)
#   MPIRUN    the launcher (default mpirun)
#   BINARY    the rechub executable (default: the repository's .build/release/rechub, built by
#             Launch/setup.sh)
# Extra arguments go to `rechub train` (e.g. --set epochs=2). Runs as root too (OpenMPI's
# root guard is lifted for this launch only). Ranks are not pinned to cores (--bind-to none),
# so each rank's BLAS threads can use the cores it was given.
# Ctrl-C (or SIGTERM, SIGUSR1) stops the job keeping its state: every rank finishes its step and
# rank 0 writes a checkpoint (Launch/lib/stoppable.sh); a second Ctrl-C ends it at once.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
RANKS="${RANKS:-2}"
cores="$(nproc)"
MPIRUN="${MPIRUN:-mpirun}"
BINARY="${BINARY:-$repo/.build/release/rechub}"
[ -x "$BINARY" ] || bash "$repo/Launch/setup.sh"

mpi_args=(
  -np "$RANKS"
  --bind-to none
)
[ "$RANKS" -gt "$cores" ] && mpi_args+=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
source "$repo/Launch/lib/config_args.sh"
train_args=("${config_args[@]}")
[ -n "${THREADS:-}" ] && train_args+=(--set "threads=$THREADS")

source "$repo/Launch/lib/stoppable.sh"
run_stoppable "$MPIRUN" "${mpi_args[@]}" "$BINARY" train "${train_args[@]}" "$@"
