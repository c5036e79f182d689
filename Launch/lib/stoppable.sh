# Sourced by the Launch scripts: run_stoppable runs an mpirun command line so that a stop keeps
# the job's state.
#
# mpirun turns a SIGINT or SIGTERM it receives into SIGTERM for every rank followed by SIGKILL one
# second later (OpenMPI's odls_base_sigkill_timeout), too soon for a step plus a large checkpoint.
# SIGUSR1 it passes on to every rank, on every node, as it is; `rechub train` takes it as a stop
# request: every rank finishes its step, rank 0 writes a checkpoint, and all exit with status 1.
#
# So mpirun runs in its own process group (a terminal's Ctrl-C reaches this script only), and
# the first SIGINT, SIGTERM or SIGUSR1 to this script becomes a SIGUSR1 to mpirun. A second one
# is passed on as SIGTERM: the job ends at once, keeping the checkpoints written before.
# (Slurm: `#SBATCH --signal=B:USR1@<seconds>` signals this script ahead of the time limit.)

run_stoppable() {
  set -m
  "$@" </dev/null &
  local pid=$! rc=0
  _rechub_stop_asked=0
  trap '_rechub_stop "$pid"' INT TERM USR1
  while :; do
    wait "$pid" && rc=0 || rc=$?
    kill -0 "$pid" 2>/dev/null || break
  done
  trap - INT TERM USR1
  set +m
  return "$rc"
}

_rechub_stop() {
  if [ "$_rechub_stop_asked" -eq 0 ]; then
    _rechub_stop_asked=1
    echo "stopping: every rank finishes its step, then rank 0 writes a checkpoint (again to end at once)" >&2
    kill -USR1 "$1" 2>/dev/null || true
  else
    echo "ending the job now" >&2
    kill -TERM "$1" 2>/dev/null || true
  fi
}
