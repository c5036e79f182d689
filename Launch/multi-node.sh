#!/usr/bin/env bash
# Trains one config across several nodes listed in an OpenMPI hostfile, over TCP.
# Every node needs the same repository path with a release build (Launch/setup.sh) and the
# data at the same paths; rank 0 (the first host) evaluates and writes metrics. The job runs in
# the repository's folder on every node, so relative paths (arguments, the config's output_dir
# and data) are taken from there.
#
# Variables:
#   HOSTFILE        OpenMPI hostfile, one "host slots=N" line per node (required)
#   RANKS           total ranks (default: the sum of the hostfile's slots)
#   CONFIG          the YAML config of a fresh run (default Configs/default.yaml; a --resume
#                   continues with the run's stored config)
#   THREADS         BLAS threads per rank (default: the config's; 0 = cores ÷ ranks on that node)
#   IFACE           network interface for MPI traffic, e.g. eth0 (default: OpenMPI's choice)
#   RSH_AGENT       command mpirun uses instead of ssh to start remote daemons (optional)
#   MPIRUN          the launcher (default mpirun)
#   RECHUB_BLAS_CORE, OPENBLAS_CORETYPE, RECHUB_OPENBLAS_LIBRARY
#                   forwarded to every rank when set (each rank chooses its OpenBLAS core before
#                   MPI_Init; see README "OpenBLAS kernels")
# Extra arguments go to `rechub train`. Ctrl-C (or SIGTERM, SIGUSR1) stops the job keeping its
# state on every node: each rank finishes its step and rank 0 writes a checkpoint
# (Launch/lib/stoppable.sh); a second Ctrl-C ends it at once.
set -euo pipefail

cd "$(dirname "$0")/.."
: "${HOSTFILE:?set HOSTFILE to an OpenMPI hostfile}"
MPIRUN="${MPIRUN:-mpirun}"
if [ -z "${RANKS:-}" ]; then
  RANKS="$(awk '/^[^#]/ { n = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { split($i, a, "="); n = a[2] } s += n } END { print s }' "$HOSTFILE")"
fi
[ -x .build/release/rechub ] || bash Launch/setup.sh

mpi_args=(
  -np "$RANKS"
  --hostfile "$HOSTFILE"
  --bind-to none
  --mca btl tcp,self
)
[ -n "${IFACE:-}" ] && mpi_args+=(--mca btl_tcp_if_include "$IFACE" --mca oob_tcp_if_include "$IFACE")
[ -n "${RSH_AGENT:-}" ] && mpi_args+=(--mca plm_rsh_agent "$RSH_AGENT")
for v in RECHUB_BLAS_CORE OPENBLAS_CORETYPE RECHUB_OPENBLAS_LIBRARY; do
  [ -n "${!v+x}" ] && mpi_args+=(-x "$v")
done
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
repo="$PWD"
source Launch/lib/config_args.sh
train_args=("${config_args[@]}")
[ -n "${THREADS:-}" ] && train_args+=(--set "threads=$THREADS")

source Launch/lib/stoppable.sh
run_stoppable "$MPIRUN" "${mpi_args[@]}" "$PWD/.build/release/rechub" train "${train_args[@]}" "$@"
