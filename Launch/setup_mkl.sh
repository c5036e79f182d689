#!/usr/bin/env bash
# Installs Intel MKL from PyPI (the `mkl` wheel, with its OpenMP runtime) into a virtualenv
# outside the repository, where `gemm_backend: mkl` finds it without further settings:
# $RECHUB_MKL_HOME, default ~/.local/share/rechub/mkl. RecHub loads MKL at run time (dlopen):
# nothing is linked, so the build and the default OpenBLAS path do not change.
# Does nothing when MKL is already there. Prints the library's path. Needs python3 with venv
# (python3-venv is installed through apt-get when missing, as root or through sudo).
#
#   bash Launch/setup_mkl.sh && .build/release/rechub train --set gemm_backend=mkl
#
# Variables:
#   RECHUB_MKL_HOME   where to install (then also where rechub looks)
#   RECHUB_MKL_SPEC   the pip requirement (default: mkl>=2024, which has the bf16 product)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/pip_library.sh"
home="${RECHUB_MKL_HOME:-${HOME:?is not set: set RECHUB_MKL_HOME to where MKL should go}/.local/share/rechub/mkl}"
install_pip_library setup_mkl "$home" "${RECHUB_MKL_SPEC:-mkl>=2024}" 'libmkl_rt.so.*'
