import Tokenizer

/// Collects committed tokens: EOS, the token limit, stop strings and streaming text, shared by the
/// speculative decoders (which commit several tokens per step).
struct CommitSink {
    let tokenizer: Tokenizer
    let options: GenerationOptions
    var tokens: [Int32] = []
    var text = ""
    var stream: StreamDecoder
    var stops: StopMatcher
    var reason: StopReason? = nil

    init(tokenizer: Tokenizer, options: GenerationOptions) {
        self.tokenizer = tokenizer
        self.options = options
        stream = StreamDecoder(tokenizer: tokenizer)
        stops = StopMatcher(options.stopStrings)
        tokens.reserveCapacity(options.maxTokens + 40)
    }

    /// Commits tokens in order; returns false once generation must stop. (A concrete buffer, not a
    /// generic sequence: an unoptimized build would allocate an iterator per round.)
    mutating func commit(_ new: UnsafeBufferPointer<Int32>, onText: (String) -> Bool) throws -> Bool {
        for i in 0..<new.count {
            if try !commit(new[i], onText: onText) { return false }
        }
        return true
    }

    /// Commits one token; returns false once generation must stop.
    mutating func commit(_ t: Int32, onText: (String) -> Bool) throws -> Bool {
        if options.stopAtEOS, t == tokenizer.eosId { reason = .endOfSequence; return false }
        tokens.append(t)
        let (emit, stopped) = stops.push(try stream.push(t))
        text += emit
        if !emit.isEmpty, !onText(emit) { reason = .callerStopped; return false }
        if stopped { reason = .stopString; return false }
        if tokens.count >= options.maxTokens { reason = .maxTokens; return false }
        return true
    }

    mutating func finish(onText: (String) -> Bool) {
        guard reason != .stopString else { return }
        let tail = stops.push(stream.finish()).emit + stops.finish()
        if !tail.isEmpty { text += tail; _ = onText(tail) }
    }
}
