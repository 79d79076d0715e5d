// swift-tools-version:6.0
import PackageDescription

// Data-parallel training over MPI (docs/distributed.md) is built only when asked for:
//   PROTEIN_PERFORMER_MPI=1 swift build -c release     (needs libopenmpi-dev: scripts/install-deps.sh --mpi)
// adds the CMPI system library (pkg-config ompi-c) and the PerformerDistributed target, and links
// them into protein-tool (`train --distributed`, `bench allreduce`). Without it nothing needs MPI.
let mpi = Context.environment["PROTEIN_PERFORMER_MPI"] == "1"

let mpiTargets: [Target] = mpi ? [
    .systemLibrary(
        name: "CMPI",
        pkgConfig: "ompi-c",
        providers: [.apt(["libopenmpi-dev"])]
    ),
    .target(name: "PerformerDistributed", dependencies: ["CMPI", "PerformerModel"]),
] : []

let package = Package(
    name: "protein-performer",
    products: [
        .executable(name: "protein-tool", targets: ["protein-tool"]),
        .library(name: "ProteinIO", targets: ["ProteinIO"]),
        .library(name: "PerformerModel", targets: ["PerformerModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(
            name: "ProteinIO",
            dependencies: ["CZlib"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .target(
            name: "PerformerModel",
            dependencies: ["COpenBLAS", "ProteinIO"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "protein-tool",
            dependencies: [
                "ProteinIO",
                "PerformerModel",
                "CZlib",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ] + (mpi ? ["PerformerDistributed"] : []),
            swiftSettings: mpi ? [.define("PROTEIN_PERFORMER_MPI")] : []
        ),
        .testTarget(name: "ProteinIOTests", dependencies: ["ProteinIO"], resources: [.copy("Fixtures")]),
        .testTarget(name: "PerformerModelTests", dependencies: ["PerformerModel"]),
        .testTarget(name: "ProteinToolTests", dependencies: ["ProteinIO", "PerformerModel"], exclude: ["Expected"]),
    ] + mpiTargets
)
