import ArgumentParser
import BackendBLAS
import BackendInt8
import Compute
import Foundation
import GGUF
import Llama

struct ModelOptions: ParsableArguments {
    static let defaultModel = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(name: [.short, .long], help: "Path to a GGUF model file.")
    var model: String = ModelOptions.defaultModel

    init() {}
    init(model: String) { self.model = model }

    func openFile() throws -> GGUFFile {
        guard FileManager.default.fileExists(atPath: model) else {
            if model == Self.defaultModel {
                throw CLIError("model file '\(model)' not found; fetch it with: ./models/fetch.sh")
            }
            throw CLIError("model file '\(model)' not found")
        }
        return try GGUFFile(path: model)
    }
}

enum BackendKind: String, ExpressibleByArgument, CaseIterable {
    case blas, int8

    func make(threads: Int) -> any ComputeBackend {
        switch self {
        case .blas: BLASBackend(threads: threads)
        case .int8: Int8Backend()
        }
    }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Progress and diagnostics go to stderr so stdout stays clean for results.
func note(_ s: String) {
    FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
}
