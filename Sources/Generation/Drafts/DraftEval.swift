import LanguageModels
/// Draft quality along the target's own greedy path, teacher-forced: at every position of the
/// target's answer, is the draft's argmax the target's token? From the match sequence follow the
/// tokens per target step that greedy speculative decoding with window γ reaches: each step accepts
/// the longest run of matches (at most γ) plus the target's own token. This equals serial SD's
/// acceptance exactly (a greedy draft sees the target's path while it matches); it leaves out time.
public struct DraftAgreement: Sendable, Equatable {
    public private(set) var matches = 0
    public private(set) var positions = 0
    /// Per γ: target steps and tokens committed by them.
    public private(set) var steps: [Int: Int] = [:]
    public private(set) var tokens: [Int: Int] = [:]

    public init() {}

    public var top1: Double { positions == 0 ? 0 : Double(matches) / Double(positions) }

    public func tokensPerStep(gamma: Int) -> Double {
        guard let s = steps[gamma], s > 0 else { return 0 }
        return Double(tokens[gamma] ?? 0) / Double(s)
    }

    /// Adds one answer's match sequence. Windows start after the first token (it comes from prefill).
    public mutating func add(_ match: [Bool], gammas: [Int]) {
        matches += match.lazy.filter { $0 }.count
        positions += match.count
        for g in gammas {
            var i = 1, s = 0, t = 0
            while i < match.count {
                var a = 0
                while a < g, i + a < match.count, match[i + a] { a += 1 }
                let commit = min(a + 1, match.count - i)
                s += 1
                t += commit
                i += commit
            }
            steps[g, default: 0] += s
            tokens[g, default: 0] += t
        }
    }

    /// Adds target steps measured by running speculative decoding itself (for drafts whose guesses depend
    /// on their own earlier guesses, so the teacher-forced matches do not decide them).
    public mutating func addMeasured(gamma: Int, steps s: Int, tokens t: Int) {
        steps[gamma, default: 0] += s
        tokens[gamma, default: 0] += t
    }

    public mutating func merge(_ o: DraftAgreement) {
        matches += o.matches
        positions += o.positions
        for (g, s) in o.steps { steps[g, default: 0] += s }
        for (g, t) in o.tokens { tokens[g, default: 0] += t }
    }
}

public enum DraftEval {
    /// The target's greedy answer to `prompt`: up to `maxTokens` tokens, ending at (and including)
    /// `eos` when it comes.
    public static func greedyPath(target: any LanguageModel, prompt: [Int32], maxTokens: Int, eos: Int32?) throws -> [Int32] {
        precondition(!prompt.isEmpty && maxTokens > 0)
        target.truncate(to: 0)
        var logits = try prefill(target, prompt)
        var out: [Int32] = []
        out.reserveCapacity(maxTokens)
        while out.count < maxTokens {
            let t = Sampler.argmax(logits, count: target.vocabSize)
            out.append(t)
            if t == eos || out.count == maxTokens { break }
            logits = try target.forward([t], at: target.kvLength)
        }
        target.truncate(to: 0)
        return out
    }

    /// Whether the draft's argmax after `prompt + answer[..<i]` is `answer[i]`, for every i.
    public static func matches(draft: any LanguageModel, prompt: [Int32], answer: [Int32], chunk: Int = 64) throws -> [Bool] {
        precondition(!prompt.isEmpty && chunk > 0)
        draft.truncate(to: 0)
        defer { draft.truncate(to: 0) }
        let seq = prompt + answer.dropLast()
        var match: [Bool] = []
        match.reserveCapacity(answer.count)
        var start = 0
        while start < seq.count {
            let end = min(start + chunk, seq.count)
            let logits = try draft.forward(Array(seq[start..<end]), at: start, allLogits: true)
            for r in start..<end where r >= prompt.count - 1 {
                let row = logits + (r - start) * draft.vocabSize
                match.append(Sampler.argmax(row, count: draft.vocabSize) == answer[r - (prompt.count - 1)])
            }
            start = end
        }
        return match
    }

    private static func prefill(_ m: any LanguageModel, _ tokens: [Int32]) throws -> UnsafeMutablePointer<Float> {
        if let p = m as? any PrefillCapable { return try p.prefillChunked(tokens) }
        return try m.forward(tokens, at: 0)
    }
}
