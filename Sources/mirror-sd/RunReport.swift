import Engine
import Foundation
import Generation

/// What `generate` reports: the statistics lines on stderr, or one JSON object.
struct RunReport {
    let mode: DecodeMode
    let backend: String
    let threads: Int
    let kvCache: String
    let loadSeconds: Double
    let context: Int
    let prepared: PreparedDecoder
    let result: DecodeResult

    var stats: DecodeReport { DecodeReport(result.stats, mirrorOptions: prepared.mirror) }

    func printSummary() {
        let s = stats
        if result.stopReason == .contextFull { note("[stopped: the context of \(context) tokens is full]") }
        var line = String(format: "[%@ | prompt %d tokens, prefill %.1f tok/s | generated %d tokens, %.1f tok/s | load %.2f s | stop: %@ | target %@, %d thread(s), %@ KV cache",
                          mode.rawValue, s.promptTokens, s.prefillTokensPerSecond, result.tokens.count, s.decodeTokensPerSecond,
                          loadSeconds, result.stopReason.rawValue, backend, threads, kvCache)
        if let d = prepared.draft { line += ", draft \(d.choice)" + (d.type.map { " on \($0.rawValue)" } ?? "") }
        note(line + "]")
        if let sp = result.stats.speculative { note("[" + sp.summary + "]") }
        if let m = result.stats.mirror, let o = prepared.mirror {
            let lens = o.kappa == 0 ? "" : " lens " + (prepared.exitLens.map { ($0 as NSString).lastPathComponent } ?? "none")
            note("[mirror γ=\(o.gamma) κ=\(o.kappa) ℓe=\(o.exitLayer)\(lens) fallback \(o.fallback.rawValue): " + m.summary + "]")
        }
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        let body = JSONBody(text: result.text, tokens: result.tokens.map(Int.init), promptTokens: result.stats.generation.promptTokens,
                            stopReason: result.stopReason.rawValue, mode: mode.rawValue, backend: backend, threads: threads, kvCache: kvCache,
                            stats: .init(loadSeconds: loadSeconds, decode: stats),
                            draftBackend: prepared.draftType, draft: prepared.draft?.choice.description, exitLens: prepared.exitLens)
        return String(decoding: try encoder.encode(body), as: UTF8.self)
    }

    struct JSONBody: Encodable {
        let text: String
        let tokens: [Int]
        let promptTokens: Int
        let stopReason, mode, backend: String
        let threads: Int
        let kvCache: String
        let stats: Stats
        let draftBackend, draft: String?
        /// Mirror: the exit lens file the proxy applied (nil: the raw logit lens or another mode).
        let exitLens: String?
    }

    /// The load time beside the decode report's own fields, in one object.
    struct Stats: Encodable {
        let loadSeconds: Double
        let decode: DecodeReport
        enum Keys: String, CodingKey { case loadSeconds }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(loadSeconds, forKey: .loadSeconds)
            try decode.encode(to: encoder)
        }
    }
}
