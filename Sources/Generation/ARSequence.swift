import Tokenizer

/// Plain decoding of one sequence as a state machine: `next` takes the logits of the sequence's last
/// fed row and returns the token to feed next, or nil once it has finished. `Generator` runs one alone;
/// a batch runs many side by side. The same logits give the same tokens in the same order, however
/// the forwards were scheduled, so a sequence's output does not depend on the batch it ran in.
///
/// A batch may also feed guessed tokens after the last one (a draft) and hand over every row's
/// logits: the sequence samples each row as plain decoding would and keeps going while the sample
/// equals the guess. For a guess that is one token (prompt lookup, a greedy draft) this is exact
/// speculative sampling: the guess survives with its probability under the target, and a rejected
/// row's sample is the target's distribution without it. One draw per committed token, as in plain
/// decoding, so a seeded request gives the same tokens whether and however far it speculated.
public final class ARSequence {
    public let prompt: [Int32]
    public let options: GenerationOptions
    let sampler: Sampler
    let vocabSize: Int
    let maxContext: Int
    /// EOS, the token limit, stop strings and streamed text: what every decoder does with a committed token.
    var sink: CommitSink
    public var tokens: [Int32] { sink.tokens }
    public var text: String { sink.text }
    /// With `options.logprobs`: one entry per token in `tokens`.
    public private(set) var logprobs: [TokenLogprob] = []
    /// Why it finished; nil while it runs.
    public private(set) var reason: StopReason?

    public init(prompt: [Int32], options: GenerationOptions, tokenizer: Tokenizer, vocabSize: Int, maxContext: Int) throws {
        guard !prompt.isEmpty else { throw GenerationError.emptyPrompt }
        guard options.maxTokens >= 1 else { throw GenerationError.invalidOption("the token limit must be at least 1") }
        guard prompt.count < maxContext else { throw GenerationError.promptTooLong(tokens: prompt.count, context: maxContext) }
        self.prompt = prompt
        self.options = options
        self.vocabSize = vocabSize
        self.maxContext = maxContext
        sampler = Sampler(params: options.sampling, vocabSize: vocabSize)
        sink = CommitSink(tokenizer: tokenizer, options: options)
    }

    /// The position of the token `next` returned: where it is fed.
    public var position: Int { prompt.count + sink.tokens.count - 1 }

    /// Samples from `logits` (the row after the last fed position) and commits the token; returns it
    /// to be fed, or nil when the sequence has finished (`reason` says why; its text is complete).
    public func next(_ logits: UnsafePointer<Float>, onText: (String) -> Bool) throws -> Int32? {
        try next(logits, drafted: UnsafeBufferPointer(start: nil, count: 0), onText: onText).next
    }

    /// Verifies a draft: `logits` holds `drafted.count + 1` rows, after the last fed token and after
    /// each drafted one. Commits plain decoding's token at each row while it equals the draft, then
    /// the first that differs (or the one after the whole draft). Returns how many drafted tokens were
    /// kept (their positions hold valid keys and values) and the token to feed next, or nil when the
    /// sequence has finished.
    public func next(_ logits: UnsafePointer<Float>, drafted: UnsafeBufferPointer<Int32>,
                     onText: (String) -> Bool) throws -> (accepted: Int, next: Int32?) {
        for j in 0...drafted.count {
            let row = logits + j * vocabSize
            try requireFinite(row, rows: 1, vocab: vocabSize, position: prompt.count + sink.tokens.count - 1)
            let token = sampler.sample(row)
            let committed = sink.tokens.count
            let goOn = try sink.commit(token, onText: onText)
            if sink.tokens.count > committed, let n = options.logprobs { logprobs.append(.of(token, logits: row, vocab: vocabSize, top: n)) }
            if !goOn { return (j, finish(sink.reason ?? .maxTokens, onText: onText)) }
            if prompt.count + sink.tokens.count > maxContext { return (j, finish(.contextFull, onText: onText)) }
            if j == drafted.count || token != drafted[j] { return (j, token) }
        }
        preconditionFailure("unreachable: the last row always returns")
    }

    /// Tokens still to come at most (the limit less those committed).
    public var remaining: Int { options.maxTokens - sink.tokens.count }

    /// Ends the sequence: the text held back for stop strings or unfinished characters goes out.
    @discardableResult
    public func finish(_ why: StopReason, onText: (String) -> Bool) -> Int32? {
        guard reason == nil else { return nil }
        reason = why
        sink.reason = why
        sink.finish(onText: onText)
        return nil
    }
}
