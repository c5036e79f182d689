#!/usr/bin/env bash
# Records what training computes, for proving a refactor changes no behaviour (issue 12):
# every config in Configs/ trains a short run (256 steps of batch 128 on a small generated
# set; the Ali-CCP sample config on ../shared/data) on 1 rank and on 2 ranks, and the final
# parameters (--save-parameters) and metrics.json are kept. Timing fields (seconds,
# samples_per_second, started_at) are removed from metrics.json, since no two runs share them.
#
#   bash Tools/behaviour_snapshot.sh OUT_DIR [RECHUB]      # RECHUB: default .build/release/rechub
#   diff -r BEFORE_DIR AFTER_DIR && echo identical
set -euo pipefail
out=$(realpath -m "$1")
cd "$(dirname "$0")/.."
bin=$(realpath "${2:-.build/release/rechub}")
mkdir -p "$out"
data="$out/.data"
export OPENBLAS_NUM_THREADS=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(--set batch_size=128 --set max_steps=256 --set checkpoints=false --set log_every=64)
gen=(--set data.generate.rows=32768 --set data.generate.val_rows=4096 --set data.generate.test_rows=4096
     --set data.generate.scale=0.02 --set "data.generate.dir=$data")
for config in Configs/*.yaml; do
    name=$(basename "$config" .yaml)
    extra=()
    grep -q "^  generate:" "$config" && extra=("${gen[@]}")
    for ranks in 1 2; do
        run="$out/$name.np$ranks"
        mkdir -p "$run"
        args=(train --config "$config" "${common[@]}" "${extra[@]}" --set "output_dir=$run/out"
              --save-parameters "$run/parameters.bin")
        if [ "$ranks" = 1 ]; then
            "$bin" "${args[@]}" > "$run/stdout.txt" 2>&1 || { cat "$run/stdout.txt"; exit 1; }
        else
            mpirun -np 2 --oversubscribe --bind-to none "$bin" "${args[@]}" > "$run/stdout.txt" 2>&1 \
                || { cat "$run/stdout.txt"; exit 1; }
        fi
        python3 - "$run/out/metrics.json" "$run/metrics.json" <<'PY'
import json, sys
def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if k not in ("seconds", "samples_per_second", "started_at")}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o
json.dump(strip(json.load(open(sys.argv[1]))), open(sys.argv[2], "w"), indent=1, sort_keys=True)
PY
        rm -rf "$run/out" "$run/stdout.txt"
        echo "$name np$ranks: $(sha256sum "$run/parameters.bin" | cut -c1-16)"
    done
done
rm -rf "$data"
