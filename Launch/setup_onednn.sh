#!/usr/bin/env bash
# Installs oneDNN from PyPI (the `onednn-cpu-gomp` wheel: oneDNN 3.2 for CPUs, on GNU OpenMP,
# without the SYCL runtime of the `onednn` wheel) into a virtualenv outside the repository,
# where `gemm_backend: onednn` finds it without further settings: $RECHUB_ONEDNN_HOME, default
# ~/.local/share/rechub/onednn. RecHub loads oneDNN at run time (dlopen): nothing is linked, so
# the build and the default OpenBLAS path do not change.
# Does nothing when oneDNN is already there. Prints the library's path. Needs python3 with
# venv (python3-venv is installed through apt-get when missing, as root or through sudo).
#
#   bash Launch/setup_onednn.sh && .build/release/rechub train --set gemm_backend=onednn --set precision=bf16
#
# Variables:
#   RECHUB_ONEDNN_HOME   where to install (then also where rechub looks)
#   RECHUB_ONEDNN_SPEC   the pip requirement (default: onednn-cpu-gomp==2023.2.0)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/pip_library.sh"
home="${RECHUB_ONEDNN_HOME:-${HOME:?is not set: set RECHUB_ONEDNN_HOME to where oneDNN should go}/.local/share/rechub/onednn}"
install_pip_library setup_onednn "$home" "${RECHUB_ONEDNN_SPEC:-onednn-cpu-gomp==2023.2.0}" 'libdnnl.so.*'
