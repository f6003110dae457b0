import LanguageModels
import Tokenizer
import TensorCore

public struct SpeculativeOptions: Sendable {
    /// Most tokens drafted per round.
    public var gamma: Int
    /// Drafts shorter than this are dropped (the round becomes a plain target step).
    public var draftMin: Int
    /// Stop drafting when the draft's top probability falls below this.
    public var draftPMin: Float

    /// The values are the caller's to check (the engine's knob table does).
    public init(gamma: Int = 4, draftMin: Int = 0, draftPMin: Float = 0) {
        precondition((1...32).contains(gamma) && (0...gamma).contains(draftMin) && draftPMin >= 0 && draftPMin < 1, "speculative options out of range")
        self.gamma = gamma
        self.draftMin = draftMin
        self.draftPMin = draftPMin
    }
}

public struct SpeculativeResult: Sendable {
    public var tokens: [Int32]
    public var text: String
    public var stopReason: StopReason
    public var stats: SpeculativeStats
}


/// Classic draft-then-verify speculative decoding: the draft proposes up to γ tokens one at a time,
/// the target checks [last committed token, d_1..d_n] in one multi-row forward.
///
/// State between rounds: the committed sequence S of length L; the target's KV holds S[0..<L-1]
/// (the newest token is the next round's first input); the draft's KV holds S[0..<L-1], or
/// S[0..<L-2] after a fully accepted round (it never fed its own last draft).
public final class SerialSpeculativeDecoder {
    public let target: any LanguageModel
    public let draft: any LanguageModel
    public let tokenizer: Tokenizer
    /// KV lengths (target, draft) and committed length after each round, for tests that count.
    public var onRound: ((_ targetKV: Int, _ draftKV: Int, _ committed: Int) -> Void)?

    public init(target: any LanguageModel, draft: any LanguageModel, tokenizer: Tokenizer) {
        self.target = target
        self.draft = draft
        self.tokenizer = tokenizer
    }

    public func generate(prompt: [Int32], options: GenerationOptions, speculative: SpeculativeOptions,
                         onText: (String) -> Bool = { _ in true }) throws -> SpeculativeResult {
        guard !prompt.isEmpty else { throw GenerationError.emptyPrompt }
        guard options.maxTokens >= 1 else { throw GenerationError.invalidOption("the token limit must be at least 1") }
        let context = min(target.maxContext, draft.maxContext)
        guard prompt.count < context else { throw GenerationError.promptTooLong(tokens: prompt.count, context: context) }
        let v = target.vocabSize
        precondition(draft.vocabSize == v, "validate the pair first")
        let gammaMax = speculative.gamma
        let verifier = Verifier(params: options.sampling, vocabSize: v)
        let draftSampler = Sampler(params: options.sampling, vocabSize: v)
        draftSampler.rng = SeededGenerator(seed: options.sampling.seed ^ 0xD4AF7)
        let greedy = options.sampling.isGreedy
        let draftProbs = UnsafeMutablePointer<Float>.allocate(capacity: greedy ? 1 : gammaMax * v)
        defer { draftProbs.deallocate() }
        // Reused every round: the per-token path allocates nothing.
        var window = [Int32](repeating: 0, count: gammaMax + 1)
        var input = [Int32](repeating: 0, count: gammaMax + 1)
        var one: [Int32] = [0]
        var stats = SpeculativeStats()
        stats.promptTokens = prompt.count
        var sink = CommitSink(tokenizer: tokenizer, options: options)

        target.truncate(to: 0)
        draft.truncate(to: 0)
        var t0 = WallClock.now()
        // The target prefills the whole prompt (its last row gives the first token); the draft all
        // but the last prompt token, which it feeds with the first token in its first round.
        let firstLogits = try timed(&stats.targetSeconds, &stats.targetForwards) { try prefill(target, prompt) }
        let first = greedy ? Sampler.argmax(firstLogits, count: v) : verifier.sampler.sample(firstLogits)
        if prompt.count > 1 {
            _ = try timed(&stats.draftSeconds, &stats.draftForwards) { try prefill(draft, Array(prompt.dropLast())) }
        }
        stats.prefillSeconds = WallClock.now() - t0
        t0 = WallClock.now()
        var seq = prompt
        seq.reserveCapacity(prompt.count + options.maxTokens + gammaMax + 2)
        var going = try sink.commit(first, onText: onText)
        seq.append(first)  // the pending token: target KV = L - 1

        while going {
            let L = seq.count
            // Verification writes positions L-1 ..< L+n; the KV holds `context`. A full KV still
            // yields one more token (plain decoding's last), so room counts it.
            let room = context - L + 1
            if room < 1 { sink.reason = .contextFull; break }
            let gamma = min(gammaMax, room - 1, options.maxTokens - sink.tokens.count)
            // Draft: catch up on committed tokens it has not fed, then propose.
            var n = 0
            if gamma > 0 {
                let kvD = draft.kvLength
                var logits = try timed(&stats.draftSeconds, &stats.draftForwards) {
                    try seq[kvD..<L].withContiguousStorageIfAvailable { try draft.forward($0, at: kvD, allLogits: false) }!
                }
                while n < gamma {
                    let d: Int32
                    var pmax: Float = 1
                    if greedy {
                        d = Sampler.argmax(logits, count: v)
                        if speculative.draftPMin > 0 { pmax = topProbability(logits, v) }
                    } else {
                        let row = draftProbs + n * v
                        draftSampler.distribution(logits, into: row)
                        d = draftSampler.draw(row)
                        if speculative.draftPMin > 0 { pmax = maxValue(row, v) }
                    }
                    if pmax < speculative.draftPMin { break }
                    window[n] = d
                    n += 1
                    if n < gamma {
                        let pos = L + n - 1
                        one[0] = d
                        logits = try timed(&stats.draftSeconds, &stats.draftForwards) {
                            try one.withUnsafeBufferPointer { try draft.forward($0, at: pos, allLogits: false) }
                        }
                    }
                }
                if n < speculative.draftMin {
                    n = 0
                    draft.truncate(to: min(draft.kvLength, L))
                }
            }
            // Verify [c, d_1..d_n] in one target forward.
            input[0] = seq[L - 1]
            for i in 0..<n { input[i + 1] = window[i] }
            let rows = try timed(&stats.targetSeconds, &stats.targetForwards) {
                try input.withUnsafeBufferPointer { try target.forward(UnsafeBufferPointer(rebasing: $0[0...n]), at: L - 1, allLogits: true) }
            }
            try requireFinite(rows, rows: n + 1, vocab: v, position: L - 1)
            let (a, next) = window.withUnsafeBufferPointer { w in
                verifier.verify(window: UnsafeBufferPointer(rebasing: w[0..<n]), draftProbs: greedy ? nil : UnsafePointer(draftProbs),
                                targetLogits: rows)
            }
            stats.record(drafted: n, accepted: a)
            target.truncate(to: L + a)
            draft.truncate(to: min(draft.kvLength, L + a))
            window[a] = next
            seq += window[0...a]
            going = try window.withUnsafeBufferPointer { try sink.commit(UnsafeBufferPointer(rebasing: $0[0...a]), onText: onText) }
            onRound?(target.kvLength, draft.kvLength, seq.count)
        }
        sink.finish(onText: onText)
        stats.generatedTokens = sink.tokens.count
        stats.decodeSeconds = WallClock.now() - t0
        return SpeculativeResult(tokens: sink.tokens, text: sink.text, stopReason: sink.reason ?? .maxTokens, stats: stats)
    }
}

#if canImport(Glibc)
import Glibc
#endif
