/// The one contract the three decoders share: a prompt in, text streamed through `onText` (which
/// returns false to stop), one result type out. Callers that do not care which decoder runs (the
/// CLI's generate, the server) hold an `any TokenDecoder`.
public protocol TokenDecoder {
    func decode(prompt: [Int32], options: GenerationOptions, onText: (String) -> Bool) throws -> DecodeResult
}

/// Statistics composed by layer: every decoder fills `generation`; speculative decoders add
/// `speculative`, and Mirror-SD adds `mirror` (whose own `speculative` is the same value).
public struct DecodeStats: Sendable, Codable, Equatable {
    public var generation = GenerationStats()
    public var speculative: SpeculativeStats?
    public var mirror: MirrorStats?
    public init() {}
}

public struct DecodeResult: Sendable {
    public var tokens: [Int32]
    public var text: String
    public var stopReason: StopReason
    public var stats: DecodeStats
    /// With `GenerationOptions.logprobs` (plain decoding): one entry per token.
    public var logprobs: [TokenLogprob]?
    public init(tokens: [Int32], text: String, stopReason: StopReason, stats: DecodeStats, logprobs: [TokenLogprob]? = nil) {
        self.tokens = tokens
        self.text = text
        self.stopReason = stopReason
        self.stats = stats
        self.logprobs = logprobs
    }
}

extension Generator: TokenDecoder {
    public func decode(prompt: [Int32], options: GenerationOptions, onText: (String) -> Bool) throws -> DecodeResult {
        let r = try generate(prompt: prompt, options: options, onText: onText)
        var s = DecodeStats()
        s.generation = r.stats
        return DecodeResult(tokens: r.tokens, text: r.text, stopReason: r.stopReason, stats: s, logprobs: r.logprobs)
    }
}

/// Serial speculative decoding with its window options bound.
public struct SpeculativeDecoding: TokenDecoder {
    public let decoder: SerialSpeculativeDecoder
    public var options: SpeculativeOptions
    public init(_ decoder: SerialSpeculativeDecoder, options: SpeculativeOptions) {
        self.decoder = decoder
        self.options = options
    }

    public func decode(prompt: [Int32], options: GenerationOptions, onText: (String) -> Bool) throws -> DecodeResult {
        let r = try decoder.generate(prompt: prompt, options: options, speculative: self.options, onText: onText)
        var s = DecodeStats()
        s.generation = GenerationStats(speculative: r.stats)
        s.speculative = r.stats
        return DecodeResult(tokens: r.tokens, text: r.text, stopReason: r.stopReason, stats: s)
    }
}

/// Mirror-SD with its options bound.
public struct MirrorDecoding: TokenDecoder {
    public let decoder: MirrorDecoder
    public var options: MirrorOptions
    public init(_ decoder: MirrorDecoder, options: MirrorOptions) {
        self.decoder = decoder
        self.options = options
    }

    public func decode(prompt: [Int32], options: GenerationOptions, onText: (String) -> Bool) throws -> DecodeResult {
        // The workers that call onText are joined before generate returns.
        let r = try withoutActuallyEscaping(onText) { try decoder.generate(prompt: prompt, options: options, mirror: self.options, onText: $0) }
        var s = DecodeStats()
        s.generation = GenerationStats(speculative: r.stats.speculative)
        s.speculative = r.stats.speculative
        s.mirror = r.stats
        return DecodeResult(tokens: r.tokens, text: r.text, stopReason: r.stopReason, stats: s)
    }
}

extension GenerationStats {
    init(speculative s: SpeculativeStats) {
        self.init()
        promptTokens = s.promptTokens
        prefillSeconds = s.prefillSeconds
        generatedTokens = s.generatedTokens
        decodeSeconds = s.decodeSeconds
    }
}
