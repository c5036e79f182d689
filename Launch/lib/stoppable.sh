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
#
# mpirun's output goes through two relays that ignore SIGINT and keep reading when what they
# write to is gone: a Ctrl-C also ends a `| tee log` after the script, and mpirun, finding its
# output closed, would otherwise kill the ranks before rank 0's checkpoint is written.

run_stoppable() {
  set -m
  "$@" </dev/null > >(_rechub_relay) 2> >(_rechub_relay >&2) &
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

# Copies its input to its output line by line; once the output is gone (a closed pipe), it goes
# on reading and drops the lines, so the writer never sees its output closed.
_rechub_relay() {
  trap '' INT PIPE
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    printf '%s\n' "$line" 2>/dev/null || true
  done
}

_rechub_stop() {
  trap '' PIPE  # the terminal's pipe (a `| tee`) may be gone: a message must not end the script
  if [ "$_rechub_stop_asked" -eq 0 ]; then
    _rechub_stop_asked=1
    kill -USR1 "$1" 2>/dev/null || true
    echo "stopping after the current step (rank 0 writes a checkpoint unless checkpoints are off);" \
      "again to end at once" >&2 2>/dev/null || true
  else
    kill -TERM "$1" 2>/dev/null || true
    echo "ending the job now: a checkpoint being written is lost, the newest complete one stays" >&2 2>/dev/null || true
  fi
}
