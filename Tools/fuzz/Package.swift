// swift-tools-version:6.0
// RecHub fuzz targets: libFuzzer entry points for the parsers that read untrusted files
// (CSV data, YAML configs with --set overrides, checkpoints). Built only by Tools/fuzz.sh,
// with `-sanitize=fuzzer -parse-as-library`; see README.md, "Fuzzing".
import PackageDescription

let package = Package(
    name: "RecHubFuzz",
    dependencies: [
        .package(path: "../.."),
    ],
    targets: [
        .executableTarget(name: "FuzzCSV", dependencies: [.product(name: "RecHub", package: "main")]),
        .executableTarget(name: "FuzzConfig", dependencies: [.product(name: "RecHub", package: "main")]),
        .executableTarget(name: "FuzzCheckpoint", dependencies: [.product(name: "RecHub", package: "main")]),
    ]
)
