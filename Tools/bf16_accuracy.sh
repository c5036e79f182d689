#!/usr/bin/env bash
# bf16 against fp32 on the same data, seed and epochs (issue 14's accuracy target): every
# config in Configs/ (the default job included), plus MMoE with MetaBalance, trained twice:
# OpenBLAS fp32 (the default products) and bf16 on $BACKEND (onednn, the default, or mkl).
# Prints one row per task: test AUC in
# each precision, their difference, and each run's seconds, with the CPU and OpenBLAS core.
#
#   bash Tools/bf16_accuracy.sh                     # every config
#   bash Tools/bf16_accuracy.sh Configs/esmm.yaml   # some
#
# Needs that library (bash Launch/setup_onednn.sh or Launch/setup_mkl.sh) and a CPU with
# AMX-BF16 or AVX512_BF16. Runs land in
# $OUT (default a new folder under /tmp), data in $OUT/data; RECHUB_BIN picks another build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin="${RECHUB_BIN:-$root/.build/release/rechub}"
[ -x "$bin" ] || swift build -c release --product rechub
OUT="${OUT:-$(mktemp -d /tmp/rechub-bf16-XXXXXX)}"
mkdir -p "$OUT"
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(Configs/*.yaml metabalance)

run() {  # name config precision [--set ...]
    local name=$1 config=$2 precision=$3
    shift 3
    local args=(train --config "$config" --set "output_dir=$OUT/$name-$precision" --set checkpoint_every=0)
    grep -q "^  generate:" "$config" && args+=(--set "data.generate.dir=$OUT/data/$name")
    [ "$precision" = bf16 ] && args+=(--set "gemm_backend=${BACKEND:-onednn}" --set precision=bf16)
    local t0=$(date +%s%N)
    "$bin" "${args[@]}" "$@" > "$OUT/$name-$precision.log" 2>&1 || { echo "FAILED: $name $precision (see $OUT/$name-$precision.log)" >&2; tail -3 "$OUT/$name-$precision.log" >&2; return 1; }
    echo "$(( ($(date +%s%N) - t0) / 1000000 ))" > "$OUT/$name-$precision.ms"
}

for c in "${configs[@]}"; do
    if [ "$c" = metabalance ]; then
        name=mmoe_metabalance; config=Configs/default.yaml; extra=(--set task_weights_strategy=metabalance)
    else
        name=$(basename "$c" .yaml); config=$c; extra=()
    fi
    run "$name" "$config" fp32 ${extra[@]+"${extra[@]}"}
    run "$name" "$config" bf16 ${extra[@]+"${extra[@]}"}
    echo "$name" >> "$OUT/names"
done

python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
names = [n.strip() for n in open(os.path.join(out, "names"))]
first = json.load(open(os.path.join(out, names[0] + "-bf16", "metrics.json")))
print(f"CPU {first['cpu']}; OpenBLAS core {first['blas_core']} ({first['blas_core_origin']}) for fp32, "
      f"{first['gemm_backend']} {first['precision']} for bf16")
print(f"{'run':<22}{'task':<10}{'fp32 AUC':>10}{'bf16 AUC':>10}{'bf16-fp32':>11}{'fp32 s':>8}{'bf16 s':>8}")
worst = 0.0
for n in names:
    m = {p: json.load(open(os.path.join(out, f"{n}-{p}", "metrics.json"))) for p in ("fp32", "bf16")}
    s = {p: int(open(os.path.join(out, f"{n}-{p}.ms")).read()) / 1000 for p in ("fp32", "bf16")}
    for a, b in zip(m["fp32"]["test"], m["bf16"]["test"]):
        if "auc" not in a or "auc" not in b:
            continue
        d = b["auc"] - a["auc"]
        worst = max(worst, abs(d))
        print(f"{n:<22}{a['task']:<10}{a['auc']:>10.4f}{b['auc']:>10.4f}{d:>+11.4f}{s['fp32']:>8.1f}{s['bf16']:>8.1f}")
print(f"largest |bf16 - fp32| test AUC difference: {worst:.4f} (runs in {out})")
PY
