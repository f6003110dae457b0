// swift-tools-version:6.0
import PackageDescription

// Dependencies point one way. CKernels -> TensorCore -> Compute -> backends; the decoders (Generation) and
// the model (Llama) both depend on the protocols-only LanguageModels, never on each other; Engine wires a
// model, its backends and a decoder together, and the CLI and the server sit on Engine. The GGUF reader is
// a leaf.
let swiftSettings: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "MirrorSD",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mirror-sd", targets: ["MirrorSDCLI"]),
        .library(name: "MirrorSD", targets: ["Llama", "Generation", "Tokenizer", "GGUF"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    ],
    targets: [
        // MARK: C and system libraries
        .systemLibrary(
            name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CKernels", dependencies: ["COpenBLAS"], path: "CKernels",
                exclude: ["README.md"]),

        // MARK: Libraries
        .target(name: "GGUF", swiftSettings: swiftSettings),
        .target(name: "TensorCore", dependencies: ["CKernels", "GGUF"], swiftSettings: swiftSettings),
        .target(name: "Compute", dependencies: ["TensorCore", "GGUF"], swiftSettings: swiftSettings),
        .target(name: "BackendBLAS", dependencies: ["Compute", "TensorCore", "CKernels"],
                swiftSettings: swiftSettings),
        .target(name: "BackendQuantized", dependencies: ["Compute", "TensorCore", "CKernels"],
                swiftSettings: swiftSettings),
        .target(name: "LanguageModels", swiftSettings: swiftSettings),
        .target(name: "Llama", dependencies: ["LanguageModels", "Compute", "TensorCore", "GGUF"], swiftSettings: swiftSettings),
        .target(name: "Tokenizer", dependencies: ["GGUF"], swiftSettings: swiftSettings),
        .target(name: "Generation", dependencies: ["LanguageModels", "Tokenizer", "TensorCore"],
                swiftSettings: swiftSettings),
        .target(name: "Engine",
                dependencies: ["GGUF", "TensorCore", "Compute", "BackendBLAS", "BackendQuantized", "LanguageModels", "Llama",
                               "Tokenizer", "Generation"],
                swiftSettings: swiftSettings),
        // OpenAI request decoding and response shapes: Foundation only, so the fuzzer builds it alone.
        .target(name: "OpenAIAPI", swiftSettings: swiftSettings),
        .target(name: "Server",
                dependencies: ["Engine", "Generation", "TensorCore", "Tokenizer", "OpenAIAPI",
                               .product(name: "Hummingbird", package: "hummingbird"),
                               .product(name: "Logging", package: "swift-log"),
                               .product(name: "NIOCore", package: "swift-nio")],
                swiftSettings: swiftSettings),
        .target(name: "Benchmark", swiftSettings: swiftSettings),
        .target(name: "Profiler", dependencies: ["TensorCore", "CKernels"],
                swiftSettings: swiftSettings),

        // MARK: Executables
        .executableTarget(
            name: "MirrorSDCLI",
            dependencies: [
                // Models load through Engine only: no architecture module, no backend module.
                "GGUF", "TensorCore", "LanguageModels", "Tokenizer", "Generation", "Engine", "Server", "Profiler", "Benchmark",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/mirror-sd", swiftSettings: swiftSettings),

        // MARK: Tests
        .target(name: "TestSupport", dependencies: ["GGUF", "TensorCore", "LanguageModels", "Llama", "Generation", "Tokenizer"],
                path: "Tests/TestSupport",
                swiftSettings: swiftSettings),
        .testTarget(name: "CKernelsTests", dependencies: ["CKernels", "TensorCore", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "TensorCore", "TestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "LlamaTests",
                    dependencies: ["Llama", "BackendBLAS", "BackendQuantized", "TestSupport", "GGUF", "Tokenizer", "Generation", "CKernels", "TensorCore"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "GGUF", "TestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "GenerationTests",
                    dependencies: ["Generation", "LanguageModels", "Llama", "BackendBLAS", "BackendQuantized", "Tokenizer", "GGUF", "TestSupport"],
                    swiftSettings: swiftSettings),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Generation", "GGUF", "Tokenizer", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "BenchmarkTests", dependencies: ["Benchmark", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "GGUF", "TensorCore"], swiftSettings: swiftSettings),
        .testTarget(name: "ServerTests", dependencies: ["TestSupport", "OpenAIAPI", "Server", "Engine", "Generation", "GGUF"], swiftSettings: swiftSettings),
    ]
)
