#!/usr/bin/env bash
# Side-by-side training throughput of `rechub bench` and torch-rechub 0.9 (PyTorch CPU) on
# the same generated Ali-CCP-shaped CSV, one thread each, batch 1024: MMoE (the tutorial's
# shape and two small ones), SharedBottom, ESMM and PLE (their Configs/*.yaml shapes) with
# fixed weights, and the tutorial MMoE with GradNorm and with MetaBalance. Prints one JSON
# line per run (also collected in $OUT/results.jsonl), then a table.
#
# torch-rechub's MLP always puts BatchNorm1d after each hidden linear layer (experts, gates,
# towers), so rechub runs each case twice: as its default (no batch norm) and with
# --batch-norm, the like-for-like figure.
#
# The torch side (Tools/torch_rechub_bench.py) reports two figures: "step", a bare torch loop
# over pre-built batches doing what MTLTrainer.train_one_epoch does for the strategy (for
# GradNorm and MetaBalance with torch-rechub's own gradnorm() and MetaBalance), and
# "trainer", torch-rechub's MTLTrainer.fit over its DataLoader. The trainer runs with fixed
# weights only: for GradNorm and MetaBalance torch-rechub 0.9's train_one_epoch never assigns
# `loss` and stops with UnboundLocalError; it is not patched here, the bare loop is their
# measurement. torch-rechub's ESMM reads the sparse fields only (no dense inputs).
#
# Needs a Python with torch, torch-rechub==0.9.0 and pandas<3 in a virtualenv outside the
# repository:
#   python3 -m venv /work/venvs/torch && /work/venvs/torch/bin/pip install torch torch-rechub==0.9.0 'pandas<3'
# Variables:
#   PYTHON   that Python (default /work/venvs/torch/bin/python)
#   RECHUB   the rechub binary (default .build/release/rechub, built by Launch/setup.sh if absent)
#   ROWS     training rows to generate (default 200000)
#   SCALE    vocabulary scale, 1.0 = about 100k users and 500k items (default 1.0)
#   STEPS    timed steps per run (default 60)
#   WARMUP   untimed warm-up steps per run (default 10)
#   OUT      working folder: data, results.jsonl, torch logs (default runs/compare)
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-/work/venvs/torch/bin/python}"
RECHUB="${RECHUB:-.build/release/rechub}"
ROWS="${ROWS:-200000}"
SCALE="${SCALE:-1.0}"
STEPS="${STEPS:-60}"
WARMUP="${WARMUP:-10}"
OUT="${OUT:-runs/compare}"

[ -x "$RECHUB" ] || bash Launch/setup.sh
"$RECHUB" generate \
  --rows "$ROWS" \
  --val-rows 1000 \
  --test-rows 1000 \
  --scale "$SCALE" \
  --seed 7 \
  --out "$OUT/data"
results="$OUT/results.jsonl"
: >"$results"

# model | strategy | shape flags (the same names for both tools)
cases=(
  "mmoe fixed --expert-units 256,128 --num-experts 8 --tower-units 64,32 --embedding-dim 16"
  "mmoe fixed --expert-units 16 --num-experts 8 --tower-units 8 --embedding-dim 16"
  "mmoe fixed --expert-units 16 --num-experts 8 --tower-units 8 --embedding-dim 4"
  "shared_bottom fixed --hidden-units 256,128 --tower-units 64,32 --embedding-dim 16"
  "esmm fixed --tower-units 256,128,64 --embedding-dim 16"
  "ple fixed --expert-units 256,128 --num-experts 2 --num-shared-experts 2 --num-layers 2 --tower-units 64,32 --embedding-dim 16"
  "mmoe gradnorm --expert-units 256,128 --num-experts 8 --tower-units 64,32 --embedding-dim 16"
  "mmoe metabalance --expert-units 256,128 --num-experts 8 --tower-units 64,32 --embedding-dim 16"
)
# rechub bench on the current case; extra flags (e.g. --batch-norm) are appended.
rechub_bench() {
  "$RECHUB" bench \
    --data "$OUT/data/train.csv" \
    --model "$model" \
    --strategy "$strategy" \
    "${shape[@]}" \
    --batch-size 1024 \
    --threads 1 \
    --steps "$STEPS" \
    --warmup "$WARMUP" \
    --json \
    "$@" | tee -a "$results"
}
n=0
for case in "${cases[@]}"; do
  read -r model strategy rest <<<"$case"
  read -r -a shape <<<"$rest"
  n=$((n + 1))
  echo "== $model, $strategy weights: ${shape[*]}"
  rechub_bench
  rechub_bench --batch-norm
  "$PYTHON" Tools/torch_rechub_bench.py \
    --csv "$OUT/data/train.csv" \
    --model "$model" \
    --strategy "$strategy" \
    "${shape[@]}" \
    --batch-size 1024 \
    --threads 1 \
    --steps "$STEPS" \
    --warmup "$WARMUP" \
    --mode both 2>"$OUT/torch_$n.log" | tee -a "$results"
done

python3 - "$results" <<'PY'
import json, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
keys = ("expert_units", "num_experts", "num_shared_experts", "num_layers", "hidden_units", "tower_units",
        "task_hidden_units")
def case(r):
    dim = r.get("embedding_dim", r.get("embed_dim"))
    shape = [f"{k}={json.dumps(r[k], separators=(',', ':'))}" for k in keys if k in r]
    return (r["model"], r["strategy"], " ".join(shape + [f"E={dim}"]))
table, order, core = {}, [], "-"
for r in runs:
    c = case(r)
    if c not in table:
        table[c] = {}
        order.append(c)
    if "bench" in r:
        table[c]["torch step"] = f"{r['step']['samples_per_s']:.0f}"
        t = r.get("trainer", {})
        table[c]["torch trainer"] = f"{t['samples_per_s']:.0f}" if "samples_per_s" in t else "-"
    else:
        table[c]["rechub+bn" if r["batch_norm"] else "rechub"] = f"{r['samples_per_second']:.0f}"
        core = f"{r['blas_core']} ({r['blas_core_origin']}), {r['cpu']}"
cols = ("rechub", "rechub+bn", "torch step", "torch trainer")
rows = [("model", "strategy", "shape") + cols] + [c + tuple(table[c].get(k, "-") for k in cols) for c in order]
widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
print(f"\nsamples/s, 1 thread, batch 1024; rechub's OpenBLAS core {core}")
for i, row in enumerate(rows):
    print("  ".join(x.rjust(w) if j >= 3 else x.ljust(w) for j, (x, w) in enumerate(zip(row, widths))).rstrip())
    if i == 0:
        print("  ".join("-" * w for w in widths))
PY
