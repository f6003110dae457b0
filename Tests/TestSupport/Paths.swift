import Foundation

/// Where the package, its models and the shared reference data live.
public enum Paths {
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/TestSupport/Paths.swift
        return url
    }()
    public static let models = packageRoot.appendingPathComponent("models")
    public static let defaultModel = models.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf").path
    public static let shared = packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
    public static let golden = shared.appendingPathComponent("data/golden")

    /// The real model, or a failure message telling how to get it. Model tests fail (not skip) when
    /// it is missing, unless MIRRORSD_SKIP_MODEL_TESTS=1, because CI fetches it and must test it.
    public static func requireModel() throws -> String {
        if FileManager.default.fileExists(atPath: defaultModel) { return defaultModel }
        if ProcessInfo.processInfo.environment["MIRRORSD_SKIP_MODEL_TESTS"] == "1" {
            throw SkipModel()
        }
        throw MissingModel()
    }

    public struct MissingModel: Error, CustomStringConvertible {
        public var description: String { "models/SmolLM2-135M-Instruct.Q4_1.gguf is missing: run models/fetch.sh" }
    }
    public struct SkipModel: Error {}

    public static func json(_ url: URL) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url))
    }
}
