#!/usr/bin/env bash
# Data-parallel scaling on one node: `rechub bench` alone (1 rank, the whole global batch) and
# under `mpirun -np RANKS` (each rank a 1/RANKS shard of the same global batch), alternating
# ROUNDS times so that both see the same machine load, then each round's ratio of samples/s
# and their median. Every line says the OpenBLAS core (and how it was picked) and the CPU.
#
#   bash Tools/bench_scaling.sh                    # tutorial MMoE with --batch-norm, 2 ranks, 3 rounds
#   RANKS=2 ROUNDS=5 bash Tools/bench_scaling.sh --model ple --strategy gradnorm
#
# Variables:
#   RECHUB   the rechub binary (default .build/release/rechub, built by Launch/setup.sh if absent)
#   RANKS    ranks of the parallel run (default 2)
#   ROUNDS   alternating rounds (default 3)
#   STEPS    timed steps per run (default 40)
#   ROWS     generated rows per run (default 200000)
#   MPIRUN   the launcher (default mpirun; as root --allow-run-as-root is added)
# Arguments replace the default `--batch-norm`; they go to every run (any `rechub bench` flag
# but --json and --steps/--rows, which this script sets). The global batch (default 1024) must
# divide over RANKS: RANKS=3 needs e.g. `--batch-size 1026`.
set -euo pipefail

cd "$(dirname "$0")/.."
RECHUB="${RECHUB:-.build/release/rechub}"
RANKS="${RANKS:-2}"
ROUNDS="${ROUNDS:-3}"
STEPS="${STEPS:-40}"
ROWS="${ROWS:-200000}"
MPIRUN="${MPIRUN:-mpirun}"
[ "$#" -gt 0 ] || set -- --batch-norm

[ -x "$RECHUB" ] || bash Launch/setup.sh
launcher=("$MPIRUN" -np "$RANKS" --bind-to none)
[ "$(id -u)" = 0 ] && launcher+=(--allow-run-as-root)
# More ranks than cores (a small machine): OpenMPI refuses unless told to oversubscribe.
[ "$RANKS" -gt "$(nproc)" ] && launcher+=(--oversubscribe)

# One run; prints its JSON line (rank 0's under mpirun).
run() { "$@" "$RECHUB" bench --json --steps "$STEPS" --rows "$ROWS" "${BENCH_ARGS[@]}" | grep '^{'; }
BENCH_ARGS=("$@")
# The global batch must divide over the ranks: say so before the first run, not after it.
batch=1024
for ((i = 0; i < ${#BENCH_ARGS[@]}; i++)); do
  case "${BENCH_ARGS[$i]}" in
    --batch-size) batch="${BENCH_ARGS[$((i + 1))]:-$batch}" ;;
    --batch-size=*) batch="${BENCH_ARGS[$i]#--batch-size=}" ;;
  esac
done
if [ $((batch % RANKS)) -ne 0 ]; then
  echo "bench_scaling.sh: the global batch $batch does not divide over $RANKS ranks; pass --batch-size" >&2
  exit 2
fi

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  one=$(run env)
  many=$(run "${launcher[@]}")
  printf '%s\t%s\t%s\n' "$round" "$one" "$many" >>"$results"
done

python3 - "$results" "$RANKS" <<'EOF'
import json, statistics, sys
path, ranks = sys.argv[1], int(sys.argv[2])
ratios = []
for line in open(path):
    round_, one, many = line.rstrip("\n").split("\t")
    a, b = json.loads(one), json.loads(many)
    ratio = b["samples_per_second"] / a["samples_per_second"]
    ratios.append(ratio)
    print(f"round {round_}: 1 rank {a['samples_per_second']:,.0f} samples/s, {b['ranks']} ranks "
          f"{b['samples_per_second']:,.0f} samples/s (communication {100 * b['communication_share']:.1f} % "
          f"of rank 0's step)  ->  {ratio:.2f}x")
print(f"median {ranks} ranks / 1 rank: {statistics.median(ratios):.2f}x over {len(ratios)} rounds "
      f"({a['model']}, {a['strategy']}, batch {a['batch_size']}, batch norm {'on' if a['batch_norm'] else 'off'}; "
      f"OpenBLAS core {a['blas_core']} ({a['blas_core_origin']}), CPU {a['cpu']})")
EOF
