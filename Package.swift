// swift-tools-version:6.0
// RecHub: multi-task recommendation models (SharedBottom, ESMM, MMoE, PLE, AITM)
// trained data-parallel over MPI, with hand-written backward passes on OpenBLAS.
import PackageDescription

let package = Package(
    name: "RecHub",
    products: [
        .library(name: "RecHub", targets: ["RecHub"]),
        .executable(name: "rechub", targets: ["RecHubCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // MARK: System libraries (C shims)
        // OpenBLAS is loaded at run time (dlopen), after its kernel set is chosen: see
        // Sources/Kernels/BLASCore.swift. libopenblas0 (from libopenblas-dev) must be installed.
        .target(name: "CBLAS", path: "Sources/CBLAS", linkerSettings: [.linkedLibrary("dl")]),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),

        // MARK: Public modules, bottom up (DESIGN.md §1)
        .target(name: "RecHubRandom"),
        .target(name: "CKernels", path: "Sources/CKernels"),
        .target(name: "Kernels", dependencies: ["CBLAS", "CKernels", "RecHubRandom"]),
        .target(name: "Layers", dependencies: ["Kernels", "CKernels"]),
        .target(name: "Models", dependencies: ["Kernels", "Layers"]),
        .target(name: "Evaluation"),
        .target(name: "Datasets", dependencies: ["RecHubRandom"]),
        .target(name: "Collectives", dependencies: ["CMPI"]),
        .target(name: "Training", dependencies: [
            "Kernels", "Layers", "Models", "Evaluation", "Datasets", "Collectives",
            .product(name: "Yams", package: "Yams"),
        ]),
        .target(name: "RecHub", dependencies: [
            "Kernels", "Layers", "Models", "Evaluation", "Datasets", "Collectives", "Training",
        ]),

        // MARK: The command-line tool (thin layer over RecHub)
        .executableTarget(name: "RecHubCLI", dependencies: [
            "RecHub",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: Tests
        .target(name: "TestSupport", dependencies: ["Kernels"], path: "Tests/TestSupport"),
        .target(name: "MallocCounter", path: "Tests/MallocCounter"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "LayersTests", dependencies: ["Layers", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Layers", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Evaluation", "RecHubRandom"]),
        .testTarget(name: "CollectivesTests", dependencies: ["Collectives"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "RecHub", "TestSupport", "MallocCounter"]),
        .testTarget(name: "RecHubCLITests", dependencies: ["RecHubCLI"]),
    ]
)
