#!/usr/bin/env bash
# Sets everything up and runs the whole test suite in the optimized build (the allocation
# checks are only meaningful there; -enable-testing lets tests reach internal helpers).
# Tests that read ../shared/data skip when it is absent. It also installs oneDNN and Intel MKL
# from PyPI into ~/.local/share/rechub/ (Launch/setup_onednn.sh, Launch/setup_mkl.sh) for the
# tests of `gemm_backend: onednn | mkl` and `precision: bf16`; under CI=true those tests fail
# rather than skip without them.
#
# Variables:
#   RECHUB_SKIP_APT=1   see Launch/setup.sh
#   SWIFT               see Launch/setup.sh
set -euo pipefail

cd "$(dirname "$0")/.."
bash Launch/setup.sh
bash Launch/setup_mkl.sh
bash Launch/setup_onednn.sh
SWIFT="${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}"
# One BLAS thread: concurrent tests calling a multi-threaded OpenBLAS 0.3.21 can deadlock (the
# test bundle also sets this itself, see Tests/MallocCounter/SingleThreadBLAS.c).
OPENBLAS_NUM_THREADS=1 "$SWIFT" test -c release -Xswiftc -enable-testing
