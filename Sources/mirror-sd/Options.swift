import ArgumentParser
import BackendBLAS
import BackendInt8
import Compute
import Foundation
import GGUF
import Llama
import TensorCore

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

/// The compute format of a model's weights, which decides its backend. `blas` and `int8` are the
/// older names of f32 and q8_0.
enum BackendKind: String, ExpressibleByArgument, CaseIterable {
    case f32, q8_0, q4_0, q4_1, native

    init?(argument: String) {
        switch argument {
        case "blas": self = .f32
        case "int8": self = .q8_0
        default: self.init(rawValue: argument)
        }
    }

    static let help = "f32 (fp32 OpenBLAS, alias blas), q8_0 (W8A8, alias int8), q4_0, q4_1 (4-bit weights x int8 activations), or native (each weight in its stored format, as llama.cpp)"

    func make(threads: Int) -> any ComputeBackend {
        switch self {
        case .f32: BLASBackend(threads: threads)
        case .q8_0: Int8Backend(threads: threads)
        case .q4_0: Q4Backend(.q4_0, threads: threads)
        case .q4_1: Q4Backend(.q4_1, threads: threads)
        case .native: NativeBackend(threads: threads)
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

/// Limits that hold for every command: a thread count the machine has, and a context the model was
/// trained for and whose KV cache fits in memory. Refused with the numbers, never clamped silently.
enum Limits {
    static func threads(_ n: Int, flag: String = "--threads") throws {
        let cores = Ops.onlineCPUs
        guard n >= 1 else { throw CLIError("\(flag) must be at least 1") }
        guard n <= cores else { throw CLIError("\(flag) \(n) exceeds the \(cores) online core(s) of this machine") }
    }

    /// The context to use: `requested`, or the model's own length capped at `defaultCap`. `sessions`
    /// counts the models that keep a KV cache of this length (target and draft).
    static func context(_ requested: Int?, config: LlamaConfig, sessions: Int = 1, defaultCap: Int = 4096,
                        flag: String = "--ctx") throws -> Int {
        let trained = config.contextLength
        let ctx = requested ?? min(trained, defaultCap)
        guard ctx >= 2 else { throw CLIError("\(flag) must be at least 2") }
        guard ctx <= trained else {
            throw CLIError("\(flag) \(ctx) exceeds the \(trained) positions the model was trained for")
        }
        // K and V per layer, fp32, plus the attention scratch: what a session allocates up front.
        let kvBytes = Double(sessions) * Double(ctx) * Double(config.layers * config.kvDim * 2 * 4)
        if let available = availableMemoryBytes(), kvBytes > 0.8 * available {
            throw CLIError(String(format: "\(flag) \(ctx) needs %.1f GB of KV cache, more than the %.1f GB of memory available here",
                                  kvBytes / 1e9, available / 1e9))
        }
        return ctx
    }

    /// MemAvailable from /proc/meminfo (Linux), nil elsewhere.
    static func availableMemoryBytes() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let parts = line.split(separator: " ")
            if parts.count >= 2, let kb = Double(parts[1]) { return kb * 1024 }
        }
        return nil
    }
}
