// swift-tools-version:6.0
// RecHub fuzz targets: libFuzzer entry points for the parsers that read untrusted files
// (CSV data, YAML configs with --set overrides, checkpoints). Built only by Tools/fuzz.sh,
// with `-sanitize=fuzzer -parse-as-library`; see README.md, "Fuzzing".
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name: the repository's, whatever it was cloned as.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().lastPathComponent
let recHub = Target.Dependency.product(name: "RecHub", package: root)

let package = Package(
    name: "RecHubFuzz",
    dependencies: [
        .package(path: "../.."),
    ],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(name: "FuzzCSV", dependencies: ["FuzzDriver", recHub]),
        .executableTarget(name: "FuzzConfig", dependencies: ["FuzzDriver", recHub]),
        .executableTarget(name: "FuzzCheckpoint", dependencies: ["FuzzDriver", recHub]),
    ]
)
