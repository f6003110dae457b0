import LanguageModels
/// Prompt lookup as a draft model (llama.cpp's "prompt lookup" / n-gram drafting): after a context,
/// find the most recent earlier occurrence of its last n tokens (n = maxN down to minN) in the
/// prompt and the text so far, and propose the token that followed. Its "logits" are one-hot on
/// the proposal; with no match they are flat, so a draft-p-min above 1/vocab stops drafting there.
///
/// With a `fallback` model (hybrid drafting) every token also goes through the fallback, whose
/// logits stand wherever lookup finds nothing. Conforms to the tree interface, so Mirror-SD's
/// branch rollouts can use it: each branch looks up in its own context (a fallback must then run
/// trees too).
public final class LookupDraft: TreeLanguageModel, PrefillCapable, ConfidenceReporting, @unchecked Sendable {
    // Sendable: owned by one worker thread at a time.
    public let vocabSize: Int
    public let maxContext: Int
    public let maxN: Int
    public let minN: Int
    public let fallback: (any LanguageModel)?
    public private(set) var committed: [Int32] = []
    var pending: [(token: Int32, parent: Int)] = []
    let rowsCapacity = 256
    let logits: UnsafeMutablePointer<Float>
    var hot: [Int]  // per row: the index set to the one-hot value last time, or -1
    var proposed: [Bool]  // per row: lookup found a proposal (hybrid rows)
    var path: [Int32] = []
    /// Lookups that found a match, and all lookups.
    public private(set) var hits = 0
    public private(set) var lookups = 0
    static let hotValue: Float = 30  // softmax of a one-hot at 30 over 49,152 zeros: p ≈ 1 − 5e-9

    public init(vocabSize: Int, maxContext: Int, maxN: Int = 3, minN: Int = 1, fallback: (any LanguageModel)? = nil) {
        precondition(fallback == nil || fallback!.vocabSize == vocabSize)
        self.vocabSize = vocabSize
        self.maxContext = maxContext
        self.maxN = maxN
        self.minN = minN
        self.fallback = fallback
        logits = .allocate(capacity: rowsCapacity * vocabSize)
        logits.initialize(repeating: 0, count: rowsCapacity * vocabSize)
        hot = [Int](repeating: -1, count: rowsCapacity)
        proposed = [Bool](repeating: false, count: rowsCapacity)
        committed.reserveCapacity(maxContext)
        path.reserveCapacity(maxContext)
    }

    deinit { logits.deallocate() }

    public var kvLength: Int { committed.count + pending.count }
    public var committedLength: Int { committed.count }
    public var pendingCount: Int { pending.count }

    public func truncate(to length: Int) {
        if length <= committed.count {
            committed.removeLast(committed.count - length)
            pending.removeAll(keepingCapacity: true)
        } else {
            pending.removeLast(pending.count - (length - committed.count))
        }
        fallback?.truncate(to: length)
    }

    /// The proposal after `ctx` (the whole context of a row), or -1.
    func propose(_ ctx: UnsafeBufferPointer<Int32>) -> Int32 {
        lookups += 1
        guard let at = PromptLookup.match(ctx, maxN: maxN, minN: minN) else { return -1 }
        hits += 1
        return ctx[at]
    }

    /// 1 where lookup proposed (alone: the one-hot; hybrid: the proposal), else the flat 1/vocab
    /// (alone) or, for a hybrid, the fallback model's own top probability, so --draft-p-min gates
    /// the model's guesses as it would gate the model alone.
    public func topProbability(row: Int) -> Float {
        if hot[row] >= 0 || proposed[row] { return 1 }
        guard fallback != nil else { return 1 / Float(vocabSize) }
        return Generation.topProbability(logits + row * vocabSize, vocabSize)
    }

    /// Writes row r: one-hot on the proposal, or the fallback model's row with the proposal on top.
    func setRow(_ r: Int, proposal: Int32, fallbackLogits: UnsafeMutablePointer<Float>?) {
        let row = logits + r * vocabSize
        proposed[r] = proposal >= 0
        if let f = fallbackLogits {
            row.update(from: f + r * vocabSize, count: vocabSize)
            hot[r] = -1
            if proposal >= 0 { row[Int(proposal)] = f[r * vocabSize + Int(proposal)] + 1000 }
            return
        }
        if hot[r] >= 0 { row[hot[r]] = 0; hot[r] = -1 }
        if proposal >= 0 { row[Int(proposal)] = Self.hotValue; hot[r] = Int(proposal) }
    }

    public func forward(_ tokens: UnsafeBufferPointer<Int32>, at position: Int, allLogits: Bool) throws -> UnsafeMutablePointer<Float> {
        precondition(pending.isEmpty && position == committed.count && (!allLogits || tokens.count <= rowsCapacity))
        let f = try fallback?.forward(tokens, at: position, allLogits: allLogits)
        return try append(tokens, allLogits: allLogits, fallbackLogits: f)
    }

    func append(_ tokens: UnsafeBufferPointer<Int32>, allLogits: Bool, fallbackLogits f: UnsafeMutablePointer<Float>?) throws -> UnsafeMutablePointer<Float> {
        let first = committed.count
        committed.append(contentsOf: tokens)
        for r in 0..<tokens.count where allLogits || r == tokens.count - 1 {
            let proposal = committed.withUnsafeBufferPointer { propose(UnsafeBufferPointer(rebasing: $0[0..<(first + r + 1)])) }
            setRow(allLogits ? r : 0, proposal: proposal, fallbackLogits: f)
        }
        return logits
    }

    public func prefillChunked(_ tokens: [Int32]) throws -> UnsafeMutablePointer<Float> {
        precondition(pending.isEmpty)
        let f = try fallback.map { try prefill($0, tokens) }
        return try tokens.withUnsafeBufferPointer { try append($0, allLogits: false, fallbackLogits: f) }
    }

    private func treeFallback() throws -> (any TreeLanguageModel)? {
        guard let f = fallback else { return nil }
        guard let t = f as? any TreeLanguageModel else {
            throw GenerationError.invalidOption("the model behind lookup cannot run speculative trees (Mirror-SD); use it with serial decoding")
        }
        return t
    }

    public func forwardTree(_ tokens: UnsafeBufferPointer<Int32>, parents: UnsafeBufferPointer<Int32>) throws -> UnsafeMutablePointer<Float> {
        precondition(tokens.count <= rowsCapacity)
        let f = try treeFallback()?.forwardTree(tokens, parents: parents)
        for (r, t) in tokens.enumerated() {
            pending.append((t, Int(parents[r])))
            // The row's context is the committed tokens, then its ancestors', then its own: append
            // that short path to `committed` for the lookup and take it off again (O(depth), no copy
            // of the whole context; capacity is reserved, so nothing allocates).
            path.removeAll(keepingCapacity: true)
            var a = pending.count - 1
            while a >= 0 { path.append(pending[a].token); a = pending[a].parent }
            committed.append(contentsOf: path.reversed())
            let proposal = committed.withUnsafeBufferPointer { propose($0) }
            committed.removeLast(path.count)
            setRow(r, proposal: proposal, fallbackLogits: f)
        }
        return logits
    }

    public func commitTree(path: UnsafeBufferPointer<Int32>, keep: UnsafeBufferPointer<Int32>) throws {
        try treeFallback()?.commitTree(path: path, keep: keep)
        for n in path { committed.append(pending[Int(n)].token) }
        var kept: [(token: Int32, parent: Int)] = []
        for (i, n) in keep.enumerated() { kept.append((pending[Int(n)].token, i - 1)) }
        pending = kept
    }
}
