#!/usr/bin/env bash
# Installs what RecHub needs on a Debian machine and builds it in release mode.
#
# Installs (only when missing): libopenmpi-dev, openmpi-bin, libopenblas-dev, pkg-config,
# through apt-get, as root or through sudo. Then `swift build -c release -Xswiftc -enable-testing`
# (the test suite's flags; SwiftPM still compiles the modules again for the test build).
#
# Variables:
#   RECHUB_SKIP_APT=1   do not touch system packages (they must already be there)
#   SWIFT               the swift driver to use (default: swift on PATH, else /opt/swift/usr/bin/swift)
set -euo pipefail

cd "$(dirname "$0")/.."

packages=(
  libopenmpi-dev
  openmpi-bin
  libopenblas-dev
  pkg-config
)

if [ "${RECHUB_SKIP_APT:-0}" != "1" ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

SWIFT="${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}"
echo "setup: building release with $SWIFT"
"$SWIFT" build -c release -Xswiftc -enable-testing
