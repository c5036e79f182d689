#!/usr/bin/env bash
# Regenerates Sources/RecHubProto/*.pb.swift from Sources/RecHubProto/Protos/*.proto.
# The generated files are committed: building swift-protobuf's protoc-gen-swift plugin takes
# about 10 minutes on a 2-core machine, so neither the build nor CI runs this.
#
# Needs protoc (Debian: protobuf-compiler) and the Swift toolchain. The plugin is built from
# the swift-protobuf version Package.resolved pins, in $PLUGIN_DIR (default /tmp/rechub-protoc-gen-swift).
#
#   bash Tools/gen_proto.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT="${SWIFT:-$(command -v swift || echo /opt/swift/usr/bin/swift)}"
command -v protoc >/dev/null || { echo "gen_proto.sh: protoc is missing (apt-get install protobuf-compiler)" >&2; exit 1; }
"$SWIFT" package resolve >/dev/null
version=$(python3 -c 'import json; d=json.load(open("Package.resolved")); print([p["state"]["version"] for p in d["pins"] if p["identity"]=="swift-protobuf"][0])')
PLUGIN_DIR="${PLUGIN_DIR:-/tmp/rechub-protoc-gen-swift}"
if [ ! -x "$PLUGIN_DIR/.build/release/protoc-gen-swift" ]; then
    rm -rf "$PLUGIN_DIR"
    git clone -q --branch "$version" https://github.com/apple/swift-protobuf "$PLUGIN_DIR"
    "$SWIFT" build -c release --product protoc-gen-swift --package-path "$PLUGIN_DIR"
fi
protoc --plugin=protoc-gen-swift="$PLUGIN_DIR/.build/release/protoc-gen-swift" \
       --swift_opt=Visibility=Public \
       --swift_out=Sources/RecHubProto \
       --proto_path=Sources/RecHubProto/Protos \
       Sources/RecHubProto/Protos/onnx.proto Sources/RecHubProto/Protos/tensorboard.proto
echo "regenerated: $(ls Sources/RecHubProto/*.pb.swift | tr '\n' ' ')(swift-protobuf $version, $(protoc --version))"
