import Foundation
import Llama
import TensorCore

/// Limits that hold for every caller: a thread count the machine has, and a context the model was
/// trained for and whose KV cache fits in memory. Refused with the numbers, never clamped silently.
public enum Limits {
    public static func threads(_ n: Int, flag: String = "--threads") throws {
        let cores = Ops.onlineCPUs
        guard n >= 1 else { throw EngineError("\(flag) must be at least 1") }
        guard n <= cores else { throw EngineError("\(flag) \(n) exceeds the \(cores) online core(s) of this machine") }
    }

    /// The context to use: `requested`, or the model's own length capped at `defaultCap`. `sessions`
    /// counts the models that keep a KV cache of this length (target and draft).
    public static func context(_ requested: Int?, config: LlamaConfig, sessions: Int = 1, kvFormat: KVFormat = .f32,
                               defaultCap: Int = 4096, flag: String = "--ctx") throws -> Int {
        let trained = config.contextLength
        let ctx = requested ?? min(trained, defaultCap)
        guard ctx >= 2 else { throw EngineError("\(flag) must be at least 2") }
        guard ctx <= trained else {
            throw EngineError("\(flag) \(ctx) exceeds the \(trained) positions the model was trained for")
        }
        let kvBytes = Double(sessions) * kvBytes(config: config, positions: ctx, format: kvFormat)
        if let available = availableMemoryBytes(), kvBytes > 0.8 * available {
            throw EngineError(String(format: "\(flag) \(ctx) needs %.1f GB of KV cache, more than the %.1f GB of memory available here",
                                     kvBytes / 1e9, available / 1e9))
        }
        return ctx
    }

    /// Bytes of KV cache for `positions` positions: K and V per layer in `format`, what a session or a
    /// batch slot allocates up front.
    public static func kvBytes(config: LlamaConfig, positions: Int, format: KVFormat = .f32) -> Double {
        Double(positions) * Double(config.layers * config.kvDim * 2 * format.bytesPerElement)
    }

    /// MemAvailable from /proc/meminfo (Linux), nil elsewhere.
    public static func availableMemoryBytes() -> Double? { meminfo("MemAvailable:") }

    static func meminfo(_ key: String, file: String = "/proc/meminfo") -> Double? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kb = Double(parts[1]) { return kb * 1024 }
        }
        return nil
    }
}
