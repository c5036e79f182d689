#!/usr/bin/env bash
# `rechub bench` over the matrix: every model with fixed weights, and every task-weighting
# strategy on the tutorial's MMoE, each without and with --batch-norm. Each model has its
# built-in config shape (see `rechub bench --help`). Prints one JSON line per run (also
# written to OUT), then a readable table: model, strategy, batch norm, samples/s, fraction
# of sgemm, OpenBLAS core (and how it was picked), CPU.
#
#   STEPS=10 ROWS=20000 SCALE=0.1 bash Tools/bench_matrix.sh
#
# Variables:
#   RECHUB    the rechub binary (default .build/release/rechub, built by Launch/setup.sh if absent)
#   STEPS     timed steps per run (default 40)
#   WARMUP    untimed warm-up steps per run (default 5)
#   ROWS      generated rows per run (default 200000)
#   SCALE     vocabulary scale of the generated data, 1.0 = about 500k items (default 1.0)
#   BATCH     global batch size (default 1024)
#   THREADS   BLAS threads (default 1)
#   OUT       file the JSON lines go to (default runs/bench_matrix.jsonl; overwritten)
# Extra arguments go to every run (only flags every model reads, e.g. --embedding-dim 8).
set -euo pipefail

cd "$(dirname "$0")/.."
RECHUB="${RECHUB:-.build/release/rechub}"
STEPS="${STEPS:-40}"
WARMUP="${WARMUP:-5}"
ROWS="${ROWS:-200000}"
SCALE="${SCALE:-1.0}"
BATCH="${BATCH:-1024}"
THREADS="${THREADS:-1}"
OUT="${OUT:-runs/bench_matrix.jsonl}"

[ -x "$RECHUB" ] || bash Launch/setup.sh
mkdir -p "$(dirname "$OUT")"
: >"$OUT"

# One bench run: model, strategy, then extra flags (e.g. --batch-norm).
bench() {
  local model="$1" strategy="$2"
  shift 2
  "$RECHUB" bench \
    --model "$model" \
    --strategy "$strategy" \
    --steps "$STEPS" \
    --warmup "$WARMUP" \
    --rows "$ROWS" \
    --scale "$SCALE" \
    --batch-size "$BATCH" \
    --threads "$THREADS" \
    --json \
    "$@" | tee -a "$OUT"
}

for batch_norm in no yes; do
  flags=("$@")
  [ "$batch_norm" = yes ] && flags+=(--batch-norm)
  for model in mmoe shared_bottom esmm ple aitm; do
    bench "$model" fixed "${flags[@]}"
  done
  for strategy in uncertainty gradnorm metabalance; do
    bench mmoe "$strategy" "${flags[@]}"
  done
done

python3 - "$OUT" <<'PY'
import json, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
rows = [("model", "strategy", "batch norm", "samples/s", "of sgemm", "core", "cpu")]
for r in runs:
    rows.append((r["model"], r["strategy"], "yes" if r["batch_norm"] else "no", f"{r['samples_per_second']:.0f}",
                 f"{100 * r['fraction_of_sgemm']:.0f} %", f"{r['blas_core']} ({r['blas_core_origin']})", r["cpu"]))
widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
print()
for n, row in enumerate(rows):
    print("  ".join(cell.rjust(w) if i in (3, 4) else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
    if n == 0:
        print("  ".join("-" * w for w in widths))
PY
