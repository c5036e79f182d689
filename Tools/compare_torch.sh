#!/usr/bin/env bash
# Side-by-side training throughput of `rechub bench` and torch-rechub 0.9 (PyTorch CPU)
# on the same generated Ali-CCP-shaped CSV, one thread each, batch 1024, for the tutorial's
# MMoE shape and torch-rechub's own example shape. Prints one JSON line per run.
# torch-rechub's MLP always puts BatchNorm1d after each hidden linear layer (experts and
# towers), so rechub runs each shape twice: as its default (no batch norm) and with
# --batch-norm, the like-for-like figure.
#
# Needs a Python with torch, torch-rechub==0.9.0 and pandas<3 (a virtualenv outside the repo).
# Variables:
#   PYTHON   that Python (default /work/venvs/torch/bin/python)
#   ROWS     training rows to generate (default 200000)
#   SCALE    vocabulary scale, 1.0 = about 100k users and 500k items (default 1.0)
#   STEPS    timed steps per run (default 60)
#   OUT      working folder (default runs/compare)
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-/work/venvs/torch/bin/python}"
ROWS="${ROWS:-200000}"
SCALE="${SCALE:-1.0}"
STEPS="${STEPS:-60}"
OUT="${OUT:-runs/compare}"

[ -x .build/release/rechub ] || bash Launch/setup.sh
.build/release/rechub generate \
  --rows "$ROWS" \
  --val-rows 1000 \
  --test-rows 1000 \
  --scale "$SCALE" \
  --seed 7 \
  --out "$OUT/data"

# expert units | experts | tower units | embedding dim
shapes=(
  "256,128 8 64,32 16"
  "16 8 8 16"
  "16 8 8 4"
)
# rechub bench on the current shape; extra flags (e.g. --batch-norm) are appended.
rechub_bench() {
  .build/release/rechub bench \
    --data "$OUT/data/train.csv" \
    --expert-units "$experts" \
    --num-experts "$n" \
    --tower-units "$towers" \
    --embedding-dim "$dim" \
    --batch-size 1024 \
    --threads 1 \
    --steps "$STEPS" \
    --json "$@"
}
for shape in "${shapes[@]}"; do
  read -r experts n towers dim <<<"$shape"
  echo "== experts $n x [$experts], towers [$towers], embedding $dim"
  rechub_bench
  rechub_bench --batch-norm
  "$PYTHON" Tools/torch_rechub_bench.py \
    --csv "$OUT/data/train.csv" \
    --expert-units "$experts" \
    --num-experts "$n" \
    --tower-units "$towers" \
    --embed-dim "$dim" \
    --batch-size 1024 \
    --threads 1 \
    --steps "$STEPS" \
    --mode both 2>/dev/null
done
