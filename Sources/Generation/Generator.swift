import Foundation
import LanguageModels
import TensorCore
import Tokenizer

public enum StopReason: String, Sendable, Codable {
    case endOfSequence = "eos", maxTokens = "max_tokens", stopString = "stop_string", contextFull = "context_full"
    case callerStopped = "stopped"
}

public struct GenerationOptions: Sendable {
    public var maxTokens: Int
    public var sampling: SamplingParams
    public var stopStrings: [String]
    public var stopAtEOS: Bool
    public init(maxTokens: Int = 128, sampling: SamplingParams = .greedy, stopStrings: [String] = [], stopAtEOS: Bool = true) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopStrings = stopStrings
        self.stopAtEOS = stopAtEOS
    }
}

/// Per-request figures of a plain generation.
public struct GenerationStats: Sendable, Codable, Equatable {
    public var promptTokens = 0
    public var prefillSeconds = 0.0
    public var generatedTokens = 0
    public var decodeSeconds = 0.0
    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0 }
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(generatedTokens) / decodeSeconds : 0 }
    public init() {}
}

public struct GenerationResult: Sendable {
    public var tokens: [Int32]
    public var text: String
    public var stopReason: StopReason
    public var stats: GenerationStats
}

public enum GenerationError: Error, CustomStringConvertible, Equatable {
    case emptyPrompt
    case promptTooLong(tokens: Int, context: Int)
    case invalidOption(String)
    case nonFiniteLogits(position: Int, token: Int, value: Float)

    public var description: String {
        switch self {
        case .emptyPrompt: return "the prompt is empty"
        case let .promptTooLong(t, c): return "the prompt has \(t) tokens but the context holds \(c) (raise --ctx or shorten the prompt)"
        case let .invalidOption(s): return s
        case let .nonFiniteLogits(p, t, v):
            return "the model computed a non-finite logit (\(v) for token \(t)) at position \(p); its weights or activations are broken, so generation stopped"
        }
    }
}

/// Finds stop strings in streamed text, holding back any tail that could still become one.
public struct StopMatcher {
    let stops: [String]
    var buffer = ""
    public init(_ stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    /// Text safe to emit now, and whether a stop string completed (text before it is emitted).
    public mutating func push(_ text: String) -> (emit: String, stopped: Bool) {
        guard !stops.isEmpty else { return (text, false) }
        buffer += text
        for s in stops {
            if let r = buffer.range(of: s) {
                let out = String(buffer[..<r.lowerBound])
                buffer = ""
                return (out, true)
            }
        }
        // Hold back the longest suffix that is a prefix of some stop string.
        var hold = 0
        for s in stops {
            for k in stride(from: min(s.count - 1, buffer.count), to: 0, by: -1)
            where buffer.hasSuffix(String(s.prefix(k))) {
                hold = max(hold, k)
                break
            }
        }
        let cut = buffer.index(buffer.endIndex, offsetBy: -hold)
        let out = String(buffer[..<cut])
        buffer = String(buffer[cut...])
        return (out, false)
    }

    public mutating func finish() -> String { defer { buffer = "" }; return buffer }
}

/// Plain autoregressive generation on one model: prefill, then one token per step.
public final class Generator {
    public let model: any LanguageModel
    public let tokenizer: Tokenizer

    public init(model: any LanguageModel, tokenizer: Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Generates after `prompt`; `onText` receives text as it completes and returns false to stop.
    public func generate(prompt: [Int32], options: GenerationOptions,
                         onText: (String) -> Bool = { _ in true }) throws -> GenerationResult {
        guard !prompt.isEmpty else { throw GenerationError.emptyPrompt }
        guard options.maxTokens >= 1 else { throw GenerationError.invalidOption("the token limit must be at least 1") }
        guard prompt.count < model.maxContext else { throw GenerationError.promptTooLong(tokens: prompt.count, context: model.maxContext) }
        model.truncate(to: 0)
        var stats = GenerationStats()
        stats.promptTokens = prompt.count
        let sampler = Sampler(params: options.sampling, vocabSize: model.vocabSize)
        var t0 = WallClock.now()
        var logits = try prefill(prompt)
        stats.prefillSeconds = WallClock.now() - t0
        t0 = WallClock.now()
        var out: [Int32] = []
        out.reserveCapacity(options.maxTokens)
        var stream = StreamDecoder(tokenizer: tokenizer)
        var stop = StopMatcher(options.stopStrings)
        var text = ""
        var reason = StopReason.maxTokens
        var pos = prompt.count
        var input: [Int32] = [0]  // reused: the per-token path allocates nothing
        loop: while true {
            let token = sampler.sample(logits)
            if options.stopAtEOS, token == tokenizer.eosId { reason = .endOfSequence; break }
            out.append(token)
            let (emit, stopped) = stop.push(try stream.push(token))
            text += emit
            if !emit.isEmpty, !onText(emit) { reason = .callerStopped; break }
            if stopped { reason = .stopString; break loop }
            if out.count >= options.maxTokens { reason = .maxTokens; break }
            if pos + 1 > model.maxContext { reason = .contextFull; break }
            input[0] = token
            logits = try input.withUnsafeBufferPointer { try model.forward($0, at: pos, allLogits: false) }
            try requireFinite(logits, rows: 1, vocab: model.vocabSize, position: pos)
            pos += 1
        }
        if reason != .stopString {
            let tail = stop.push(stream.finish()).emit + stop.finish()
            if !tail.isEmpty { text += tail; _ = onText(tail) }
        }
        stats.generatedTokens = out.count
        stats.decodeSeconds = WallClock.now() - t0
        return GenerationResult(tokens: out, text: text, stopReason: reason, stats: stats)
    }

    func prefill(_ prompt: [Int32]) throws -> UnsafeMutablePointer<Float> {
        try Generation.prefill(model, prompt)
    }
}
