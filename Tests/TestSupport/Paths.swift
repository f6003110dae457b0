import Foundation

/// Where the package, its models and the test reference data live. Everything a test reads is inside the
/// package: a fresh clone has nothing beside it.
public enum Paths {
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/TestSupport/Paths.swift
        return url
    }()
    public static let models = packageRoot.appendingPathComponent("models")
    public static let defaultModel = models.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf").path
    /// Reference outputs of SmolLM2 (fp32 logits, llama.cpp tokenizations and greedy ids): see its README.
    public static let golden = packageRoot.appendingPathComponent("Tests/Fixtures/golden")
    /// The Spec-Bench prompt set, shipped for the `bench` command (see its NOTICE).
    public static let specBenchQuestions = packageRoot.appendingPathComponent("data/specbench/question.jsonl")

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
