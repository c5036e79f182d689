# Sourced by Launch/setup_mkl.sh and Launch/setup_onednn.sh: installs a pip requirement into a
# virtualenv outside the repository, unless the library is already there, and prints its path.
#
#   install_pip_library NAME HOME SPEC GLOB
#     NAME  what the messages call it (setup_mkl, setup_onednn)
#     HOME  the virtualenv's folder
#     SPEC  the pip requirement
#     GLOB  the library's file name pattern under HOME/lib (libmkl_rt.so.*)
# Needs python3 with venv (python3-venv is installed through apt-get when missing, as root or
# through sudo).
install_pip_library() {
    local name=$1 home=$2 spec=$3 glob=$4 lib
    # A home given as "~/..." (quoted, so the shell left it) is the home folder, as rechub reads it.
    [[ $home == "~" || $home == "~/"* ]] && home="$HOME${home:1}"
    find_lib() { { ls "$home"/lib/$glob 2>/dev/null || true; } | sort | tail -1; }
    lib=$(find_lib)
    if [ -z "$lib" ]; then
        echo "$name: installing $spec from PyPI into $home"
        mkdir -p "$(dirname "$home")"
        python3 -m venv "$home" 2>/dev/null || {
            # Debian's python3 needs python3-venv for `-m venv`.
            local sudo_cmd=()
            [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
            DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$home"
        }
        "$home/bin/pip" install -q --disable-pip-version-check "$spec"
        lib=$(find_lib)
        [ -n "$lib" ] || { echo "$name: pip installed no $glob into $home/lib" >&2; return 1; }
    fi
    echo "$name: $lib"
}
