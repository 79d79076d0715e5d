// swift-tools-version:6.0
import PackageDescription

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
            ]
        ),
        .testTarget(name: "ProteinIOTests", dependencies: ["ProteinIO"], resources: [.copy("Fixtures")]),
        .testTarget(name: "PerformerModelTests", dependencies: ["PerformerModel"]),
        .testTarget(name: "ProteinToolTests", dependencies: ["ProteinIO"], exclude: ["Expected"]),
    ]
)
