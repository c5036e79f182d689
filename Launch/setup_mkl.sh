#!/usr/bin/env bash
# Installs Intel MKL from PyPI (the `mkl` wheel, with its OpenMP runtime) into a virtualenv
# outside the repository, where `gemm_backend: mkl` finds it without further settings:
# $RECHUB_MKL_HOME, default ~/.local/share/rechub/mkl. RecHub loads MKL at run time (dlopen):
# nothing is linked, so the build and the default OpenBLAS path do not change.
# Does nothing when MKL is already there. Prints the library's path. Needs python3 with venv
# (python3-venv is installed through apt-get when missing, as root or through sudo).
#
#   bash Launch/setup_mkl.sh && .build/release/rechub train --set gemm_backend=mkl --set precision=bf16
#
# Variables:
#   RECHUB_MKL_HOME   where to install (then also where rechub looks)
#   RECHUB_MKL_SPEC   the pip requirement (default: mkl>=2024, which has the bf16 product)
set -euo pipefail

home="${RECHUB_MKL_HOME:-${HOME:?is not set: set RECHUB_MKL_HOME to where MKL should go}/.local/share/rechub/mkl}"
find_lib() { { ls "$home"/lib/libmkl_rt.so.* 2>/dev/null || true; } | sort | tail -1; }
lib=$(find_lib)
if [ -z "$lib" ]; then
    echo "setup_mkl: installing ${RECHUB_MKL_SPEC:-mkl>=2024} from PyPI into $home"
    mkdir -p "$(dirname "$home")"
    python3 -m venv "$home" 2>/dev/null || {
        # Debian's python3 needs python3-venv for `-m venv`.
        sudo_cmd=()
        [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$home"
    }
    "$home/bin/pip" install -q --disable-pip-version-check "${RECHUB_MKL_SPEC:-mkl>=2024}"
    lib=$(find_lib)
    [ -n "$lib" ] || { echo "setup_mkl: pip installed no libmkl_rt.so into $home/lib" >&2; exit 1; }
fi
echo "setup_mkl: MKL is $lib"
