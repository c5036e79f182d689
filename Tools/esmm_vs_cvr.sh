#!/usr/bin/env bash
# ESMM against a plain CVR model trained on clicked impressions only, on generated data with a
# selection bias (the appeal shared by click and purchase; see `rechub generate --help`).
# Both are scored by CVR AUC over the clicked test impressions, beside the oracle's.
#
#   SELECTION_BIAS=0.6 SCALE=0.1 ROWS=1000000 TEST_ROWS=1000000 EPOCHS=1 bash Tools/esmm_vs_cvr.sh
#
# The test split is as large as the training split by default: about 40k clicked impressions,
# so the standard error of each CVR AUC is near 0.005.
#
# Extra arguments go to both `rechub train` runs (e.g. --set learning_rate=0.002).
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SELECTION_BIAS:-0.6} SCALE=${SCALE:-0.1} ROWS=${ROWS:-1000000} EPOCHS=${EPOCHS:-1} SEED=${SEED:-7}
TEST_ROWS=${TEST_ROWS:-$ROWS}
RECHUB=${RECHUB:-.build/release/rechub}
[ -x "$RECHUB" ] || swift build -c release --product rechub
tag="sb${S}_s${SCALE}_r${ROWS}_t${TEST_ROWS}_g${SEED}"
data="runs/data/$tag"
common=(--set data.generate.selection_bias="$S" --set data.generate.scale="$SCALE" --set data.generate.rows="$ROWS"
        --set data.generate.val_rows=$((ROWS / 10)) --set data.generate.test_rows="$TEST_ROWS"
        --set data.generate.seed="$SEED" --set data.generate.dir="$data" --set epochs="$EPOCHS")
"$RECHUB" train --config Configs/esmm.yaml "${common[@]}" --set output_dir="runs/esmm_$tag" "$@" | grep -v '^step'
"$RECHUB" train --config Configs/cvr_on_clicks.yaml "${common[@]}" --set output_dir="runs/cvr_$tag" "$@" | grep -v '^step'
python3 - "$data/truth.json" "runs/esmm_$tag/metrics.json" "runs/cvr_$tag/metrics.json" <<'PY'
import json, sys
truth, esmm, plain = (json.load(open(p)) for p in sys.argv[1:])
def cvr(m, name):
    return next(t for t in m["test"] if t["task"] == name)
e, p = cvr(esmm, "cvr (on click = 1)"), cvr(plain, "purchase (on click = 1)")
o = truth["oracleAUC"]["test"]["purchase_given_click"]
r = truth["rates"]["test"]
print(f"selection bias {truth.get('selectionBias', 0)}  scale {truth['scale']}  rows {truth['rows']['train']}  "
      f"mean pCVR clicked {r['pcvr_clicked']:.4f} not clicked {r['pcvr_not_clicked']:.4f}")
print(f"CVR AUC on {e['count']} clicked test impressions: ESMM {e['auc']:.4f}  plain CVR {p['auc']:.4f}  "
      f"oracle {o:.4f}  ESMM - plain {e['auc'] - p['auc']:+.4f}")
PY
