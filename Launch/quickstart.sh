#!/usr/bin/env bash
# Sets everything up and runs the default job: generates an Ali-CCP-shaped data set with a
# planted ground truth, trains the tutorial's MMoE on it, prints per-task validation metrics
# each epoch and test metrics beside the oracle AUC at the end.
#
# Variables:
#   RECHUB_SKIP_APT=1   see Launch/setup.sh
# Arguments are passed on to `rechub train` (e.g. --set epochs=2).
set -euo pipefail

cd "$(dirname "$0")/.."
bash Launch/setup.sh
exec .build/release/rechub train "$@"
