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
    /// nil: no log probabilities; n: each generated token's under the model, with the n most likely beside it.
    public var logprobs: Int? = nil
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
    /// With `GenerationOptions.logprobs`: one entry per token.
    public var logprobs: [TokenLogprob]? = nil
}

/// A generated token's log probability under the model's own distribution (the softmax of its
/// logits, before temperature and filters), and the most likely tokens beside it.
public struct TokenLogprob: Sendable, Equatable {
    public struct Alternative: Sendable, Equatable {
        public var token: Int32
        public var logprob: Float
    }
    public var token: Int32
    public var logprob: Float
    public var top: [Alternative]

    /// Of `token` in `logits` (`vocab` values), with the `top` most likely (ties: the lower id first).
    public static func of(_ token: Int32, logits: UnsafePointer<Float>, vocab: Int, top: Int) -> TokenLogprob {
        var mx = -Float.infinity
        for i in 0..<vocab { mx = max(mx, logits[i]) }
        var sum: Double = 0
        for i in 0..<vocab where logits[i] > -.infinity { sum += Double(expf(logits[i] - mx)) }
        let lse = mx + Float(log(sum))
        var best: [Alternative] = []
        if top > 0 {
            best.reserveCapacity(top + 1)
            for i in 0..<vocab where best.count < top || logits[i] > best[best.count - 1].logprob {
                var at = best.count
                while at > 0 && best[at - 1].logprob < logits[i] { at -= 1 }
                best.insert(Alternative(token: Int32(i), logprob: logits[i]), at: at)
                if best.count > top { best.removeLast() }
            }
            for j in best.indices { best[j].logprob -= lse }
        }
        return TokenLogprob(token: token, logprob: logits[Int(token)] - lse, top: best)
    }
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
        let seq = try ARSequence(prompt: prompt, options: options, tokenizer: tokenizer, vocabSize: model.vocabSize,
                                 maxContext: model.maxContext)
        model.truncate(to: 0)
        var stats = GenerationStats()
        stats.promptTokens = prompt.count
        var t0 = WallClock.now()
        var logits = try Generation.prefill(model, prompt)
        stats.prefillSeconds = WallClock.now() - t0
        t0 = WallClock.now()
        var input: [Int32] = [0]  // reused: the per-token path allocates nothing
        while let token = try seq.next(logits, onText: onText) {
            input[0] = token
            logits = try input.withUnsafeBufferPointer { try model.forward($0, at: seq.position, allLogits: false) }
        }
        stats.generatedTokens = seq.tokens.count
        stats.decodeSeconds = WallClock.now() - t0
        return GenerationResult(tokens: seq.tokens, text: seq.text, stopReason: seq.reason ?? .maxTokens, stats: stats,
                                logprobs: options.logprobs != nil ? seq.logprobs : nil)
    }
}
