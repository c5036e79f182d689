#!/usr/bin/env bash
# The products side by side: `rechub bench --batch-norm` for every model on OpenBLAS fp32, MKL
# fp32, oneDNN fp32, oneDNN bf16 and MKL bf16, alternating ROUNDS times so that all see the
# same machine load. Prints one line per run, then a table of samples/s per model and setting
# with oneDNN bf16 against OpenBLAS fp32 and against the best fp32, with the CPU, the
# OpenBLAS core and oneDNN's instruction set.
#
#   bash Tools/bench_products.sh                 # every model, 2 rounds
#   ROUNDS=3 MODELS="mmoe ple" bash Tools/bench_products.sh --threads 2
#
# Needs oneDNN and MKL (bash Launch/setup_onednn.sh; bash Launch/setup_mkl.sh) and, for bf16,
# a CPU with AVX512_BF16 or AMX. Variables:
#   RECHUB   the rechub binary (default .build/release/rechub, built by Launch/setup.sh if absent)
#   MODELS   the models (default: mmoe ple shared_bottom esmm aitm)
#   ROUNDS   alternating rounds (default 2)
#   STEPS    timed steps per run (default 30)
#   ROWS     generated rows per run (default 100000)
#   SCALE    vocabulary scale of the generated data (default 0.1)
# Extra arguments go to every run.
set -euo pipefail
cd "$(dirname "$0")/.."
RECHUB="${RECHUB:-.build/release/rechub}"
MODELS="${MODELS:-mmoe ple shared_bottom esmm aitm}"
ROUNDS="${ROUNDS:-2}"
[ -x "$RECHUB" ] || bash Launch/setup.sh
settings=("openblas fp32" "mkl fp32" "onednn fp32" "onednn bf16" "mkl bf16")
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for model in $MODELS; do
    for s in "${settings[@]}"; do
      read -r backend precision <<<"$s"
      line=$("$RECHUB" bench --model "$model" --batch-norm --steps "${STEPS:-30}" --rows "${ROWS:-100000}" \
               --scale "${SCALE:-0.1}" --gemm-backend "$backend" --precision "$precision" --json "$@" | grep '^{')
      printf '%s\t%s\n' "$round" "$line" >>"$results"
      echo "$line" | ROUND="$round" python3 -c 'import json, os, sys; o = json.load(sys.stdin)
print("round %s: %s %s %s: %s samples/s" % (os.environ["ROUND"], o["model"], o["gemm_backend"], o["precision"],
                                           format(round(o["samples_per_second"]), ",")))'
    done
  done
done

python3 - "$results" <<'EOF'
import json, sys
runs = {}
cpu = core = isa = "?"
for line in open(sys.argv[1]):
    _, text = line.rstrip("\n").split("\t", 1)
    o = json.loads(text)
    runs.setdefault((o["model"], f'{o["gemm_backend"]} {o["precision"]}'), []).append(o["samples_per_second"])
    cpu, core = o["cpu"], f'{o["blas_core"]} ({o["blas_core_origin"]})'
    isa = o.get("onednn_version", isa)
settings = ["openblas fp32", "mkl fp32", "onednn fp32", "onednn bf16", "mkl bf16"]
print(f"\nsamples/s per round, batch norm on; CPU {cpu}; OpenBLAS core {core}; {isa}")
print("| model | " + " | ".join(settings) + " | oneDNN bf16 / OpenBLAS fp32 | oneDNN bf16 / best fp32 |")
print("|" + "---|" * (len(settings) + 3))
for model in dict.fromkeys(m for m, _ in runs):
    cells = [" / ".join(f"{v:,.0f}" for v in runs.get((model, s), [])) for s in settings]
    bf16, blas = runs[(model, "onednn bf16")], runs[(model, "openblas fp32")]
    best = [max(x) for x in zip(*(runs[(model, s)] for s in settings[:3]))]
    ratio = lambda a, b: "–".join(f"{x / y:.2f}" for x, y in zip(a, b))
    print(f"| {model} | " + " | ".join(cells) + f" | {ratio(bf16, blas)} | {ratio(bf16, best)} |")
EOF
