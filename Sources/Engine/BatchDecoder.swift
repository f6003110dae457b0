import Generation
import Llama
import TensorCore
import Tokenizer

/// Continuous batching: many sequences share each forward. Sequences join and leave at any step;
/// prompts are prefilled in chunks beside the decode rows, under a row budget per step. With a
/// `draft` (prompt lookup), a sequence may also feed the tokens its draft guesses after its last one
/// and keep those the target agrees with: how many rows each sequence drafts per step is the goodput
/// rule's choice (`GoodputPolicy`), from the measured cost of a forward by its rows (`StepCost`) and
/// each sequence's observed acceptance; under load it drafts nothing.
///
/// Each sequence's tokens are exactly what `generate --mode ar` gives it alone, drafted or not: the
/// batch's forward is batch-invariant, each sequence samples with its own seeded sampler, and a
/// drafted row only saves a later forward of the same row (see `ARSequence`).
/// Not thread-safe: one thread calls `add`, `step` and `cancel`.
public final class BatchDecoder {
    /// A sequence in the batch and what it reports when it ends.
    final class Running {
        let id: Int
        let seq: ARSequence
        let slot: Int
        let onText: (String) -> Bool
        let done: (Result<DecodeResult, any Error>) -> Void
        var prefilled = 0
        var next: Int32? = nil
        /// The prompt and the tokens committed: what prompt lookup searches (capacity reserved).
        var context: [Int32]
        /// The coming forward's rows of this sequence: its next token, then the drafted ones.
        var window: [Int32]
        /// Drafted rows in the coming forward.
        var drafting = 0
        var alpha: Double
        /// Its steps after the prompt, with what each drafted and kept.
        var spec = SpeculativeStats()
        var started = WallClock.now()
        var firstToken = 0.0

        init(id: Int, seq: ARSequence, slot: Int, alpha: Double, maxDraft: Int, onText: @escaping (String) -> Bool,
             done: @escaping (Result<DecodeResult, any Error>) -> Void) {
            self.id = id
            self.alpha = alpha
            context = seq.prompt
            context.reserveCapacity(seq.prompt.count + seq.options.maxTokens + 1)
            window = []
            window.reserveCapacity(maxDraft + 1)
            self.seq = seq
            self.slot = slot
            self.onText = onText
            self.done = done
            spec.draftedAt.reserveCapacity(maxDraft)
            spec.acceptedAt.reserveCapacity(maxDraft)
        }
    }

    public let batch: LlamaBatch
    public let tokenizer: Tokenizer
    /// Most rows in one forward: every decode row, then prefill chunks while there is room.
    public let rowBudget: Int
    /// The longest prefill chunk of one sequence in one forward.
    public let prefillChunk: Int
    var slots: [Running?]
    /// The tokens whose keys and values each slot holds: a finished sequence's prompt and the tokens it
    /// fed. A new prompt that starts with them (the earlier turns of a chat) goes to that slot and
    /// prefills only the rest.
    var held: [[Int32]]
    /// Sequences whose rows in the coming forward asked for logits, in the order added.
    var order: [Running] = []
    /// What drafts guesses (nil: plain batched decoding) and how far the goodput rule lets them go.
    public let draft: BatchDraft?
    public let policy: GoodputPolicy
    /// What a forward costs by its rows; `calibrate` measures it (tests may set a shape of their own).
    public var cost = StepCost()
    var offers: [DraftOffer] = []
    var offerOwners: [Running] = []
    var wasSpeculating = false
    var nextID = 0
    /// Where the next step's prefill starts looking, so no prompt waits behind the others forever.
    var prefillCursor = 0
    public private(set) var stepCount = 0
    public private(set) var rowsRun = 0
    /// Prompt rows in the last forward (0: it only decoded).
    public private(set) var lastPrefillRows = 0
    /// Sequences that reused a held prefix, and the prompt positions they did not prefill again.
    public private(set) var prefixHits = 0
    public private(set) var prefixTokensReused = 0
    /// Of those, the sequences whose prefix came from another slot (copied, not held in their own).
    public private(set) var prefixCopies = 0
    /// Tokens drafted and kept, steps that drafted, and seconds and tokens of the forwards run.
    public private(set) var draftedTokens = 0
    public private(set) var acceptedTokens = 0
    public private(set) var speculatingSteps = 0
    public private(set) var stepSeconds = 0.0
    public private(set) var tokensOut = 0

    public init(model: LlamaModel, tokenizer: Tokenizer, slots: Int, context: Int, rowBudget: Int = 64, prefillChunk: Int = 32,
                draft: BatchDraft? = nil, policy: GoodputPolicy = GoodputPolicy()) {
        batch = LlamaBatch(model: model, slots: slots, maxContext: context, maxRows: rowBudget)
        self.tokenizer = tokenizer
        self.rowBudget = rowBudget
        self.prefillChunk = min(prefillChunk, rowBudget)
        self.draft = draft
        self.policy = policy
        self.slots = [Running?](repeating: nil, count: slots)
        held = [[Int32]](repeating: [], count: slots)
        order.reserveCapacity(slots)
        offers.reserveCapacity(slots)
        offerOwners.reserveCapacity(slots)
    }

    /// What the batch has done so far, for metrics.
    public var figures: BatchFigures {
        var f = BatchFigures()
        (f.slots, f.active, f.steps, f.rows) = (slots.count, activeCount, stepCount, rowsRun)
        (f.prefixHits, f.prefixTokens, f.prefixCopies) = (prefixHits, prefixTokensReused, prefixCopies)
        (f.drafted, f.accepted, f.speculatingSteps) = (draftedTokens, acceptedTokens, speculatingSteps)
        (f.stepSeconds, f.tokens) = (stepSeconds, tokensOut)
        f.kvPositions = batch.lengths.reduce(0, +)
        f.kvBytesPerPosition = Limits.kvBytes(config: batch.model.config, positions: 1, format: batch.model.kvFormat)
        f.chunksMoved = Ops.chunksMoved
        return f
    }

    /// Whether some sequence still has prompt rows to prefill.
    public var hasPromptLeft: Bool { slots.contains { $0.map { $0.prefilled < $0.seq.prompt.count } ?? false } }

    public var freeSlots: Int { slots.reduce(0) { $0 + ($1 == nil ? 1 : 0) } }
    public var activeCount: Int { slots.count - freeSlots }
    public var isIdle: Bool { activeCount == 0 }

    /// Starts a sequence in a free slot; its text goes to `onText` (false stops it) and its result to
    /// `done`, both on the thread that steps. Returns its id, or nil when every slot is taken.
    public func add(prompt: [Int32], options: GenerationOptions, onText: @escaping (String) -> Bool,
                    done: @escaping (Result<DecodeResult, any Error>) -> Void) throws -> Int? {
        let seq = try ARSequence(prompt: prompt, options: options, tokenizer: tokenizer, vocabSize: batch.model.config.vocabSize,
                                 maxContext: batch.maxContext)
        // Calibrating takes a free slot, so it happens before the first sequence takes one.
        if draft != nil && !cost.isCalibrated { calibrate() }
        // The free slot holding the longest prefix of the prompt (at least its last token is fed, for
        // its logits); ties: the lowest slot.
        var best: (slot: Int, reuse: Int)? = nil
        for s in slots.indices where slots[s] == nil {
            let n = heldPrefix(s, of: prompt)
            if best == nil || n > best!.reuse { best = (s, n) }
        }
        guard let (slot, ownReuse) = best else { return nil }
        // A running sequence may hold more of the prompt (a system prompt every chat starts with): its
        // keys and values are copied, which costs a memcpy where prefilling costs a forward.
        var source: (slot: Int, reuse: Int)? = nil
        for s in slots.indices where slots[s] != nil {
            let n = heldPrefix(s, of: prompt)
            if n > (source?.reuse ?? ownReuse) { source = (s, n) }
        }
        batch.truncate(slot: slot, to: ownReuse)
        held[slot] = []
        if let from = source {
            batch.copyPositions(from: from.slot, to: slot, count: from.reuse)
            prefixCopies += 1
        }
        let reuse = source?.reuse ?? ownReuse
        if reuse > 0 {
            prefixHits += 1
            prefixTokensReused += reuse
        }
        nextID += 1
        let r = Running(id: nextID, seq: seq, slot: slot, alpha: policy.prior, maxDraft: policy.maxDraft, onText: onText, done: done)
        r.prefilled = reuse
        slots[slot] = r
        return nextID
    }

    /// How many of `prompt`'s tokens, short of its last (fed for its logits), slot `s` holds keys and
    /// values for: a free slot its held tokens, a running one the positions it has written.
    func heldPrefix(_ s: Int, of prompt: [Int32]) -> Int {
        let limit = prompt.count - 1
        var n = 0
        if let r = slots[s] {
            let written = min(batch.lengths[s], r.context.count, limit)
            while n < written && r.context[n] == prompt[n] { n += 1 }
        } else {
            let m = min(held[s].count, limit)
            while n < m && held[s][n] == prompt[n] { n += 1 }
        }
        return n
    }

    /// Forgets what the free slots hold, so no later prompt reuses it.
    public func forgetHeldPrefixes() {
        for s in slots.indices where slots[s] == nil {
            held[s] = []
            batch.truncate(slot: s, to: 0)
        }
    }

    /// Ends sequence `id` at once, as its caller stopping it would (a client that hung up).
    public func cancel(_ id: Int) {
        guard let r = slots.compactMap({ $0 }).first(where: { $0.id == id }) else { return }
        r.seq.finish(.callerStopped, onText: { _ in true })
        end(r, nil)
    }

    /// One forward over every running sequence: a decode row each (and the rows its draft guesses, as
    /// far as the goodput rule allows), then prefill chunks. Returns false when there was nothing to run.
    @discardableResult
    public func step() -> Bool {
        order.removeAll(keepingCapacity: true)
        lastPrefillRows = 0
        let drafted = planDrafts()
        for case let r? in slots where r.next != nil {
            do {
                try r.window.withUnsafeBufferPointer {
                    try batch.add(slot: r.slot, tokens: UnsafeBufferPointer(rebasing: $0[0...r.drafting]), logits: r.drafting > 0 ? .all : .last)
                }
            } catch { end(r, error); continue }
            order.append(r)
        }
        for i in 0..<slots.count where batch.rows < rowBudget {
            guard let r = slots[(prefillCursor + i) % slots.count], r.next == nil, r.prefilled < r.seq.prompt.count else { continue }
            let n = min(r.seq.prompt.count - r.prefilled, rowBudget - batch.rows, prefillChunk)
            let last = r.prefilled + n == r.seq.prompt.count
            do {
                try r.seq.prompt.withUnsafeBufferPointer {
                    try batch.add(slot: r.slot, tokens: UnsafeBufferPointer(rebasing: $0[r.prefilled..<(r.prefilled + n)]), logits: last ? .last : .none)
                }
            } catch { end(r, error); continue }
            r.prefilled += n
            lastPrefillRows += n
            if last { order.append(r) }
        }
        prefillCursor = (prefillCursor + 1) % slots.count
        guard batch.rows > 0 else { return false }
        let rows = batch.rows
        stepCount += 1
        rowsRun += rows
        if drafted > 0 { speculatingSteps += 1 }
        wasSpeculating = drafted > 0
        let t0 = WallClock.now()
        var logits = UnsafePointer(batch.run())
        let seconds = WallClock.now() - t0
        cost.record(rows: rows, seconds: seconds)
        stepSeconds += seconds
        let v = batch.model.config.vocabSize
        for r in order {
            let prior = r.next  // nil: this row ended the prompt
            let fed = prior == nil ? 0 : r.drafting
            defer { logits += (fed + 1) * v }
            if r.seq.tokens.isEmpty { r.firstToken = WallClock.now() }
            let before = r.seq.tokens.count
            do {
                let (kept, next) = try r.window.withUnsafeBufferPointer {
                    try r.seq.next(logits, drafted: fed > 0 ? UnsafeBufferPointer(rebasing: $0[1...fed]) : UnsafeBufferPointer(start: nil, count: 0),
                                   onText: r.onText)
                }
                // Keys and values stay for the fed token and the drafted ones kept.
                batch.truncate(slot: r.slot, to: batch.lengths[r.slot] - (fed - kept))
                r.context.append(contentsOf: r.seq.tokens[before...])
                tokensOut += r.seq.tokens.count - before
                draftedTokens += fed
                acceptedTokens += kept
                if prior != nil { r.spec.record(drafted: fed, accepted: kept) }
                if draft != nil && prior != nil { r.alpha = policy.update(r.alpha, drafted: fed, accepted: kept) }
                r.drafting = 0
                guard let t = next else { end(r, nil); continue }
                r.next = t
                r.window.removeAll(keepingCapacity: true)
                r.window.append(t)
            } catch { end(r, error) }
        }
        // A finished sequence's callbacks must not outlive its step (LookupDecoder lends them non-escaping).
        order.removeAll(keepingCapacity: true)
        return true
    }

    /// Fills each decoding sequence's window with its draft's guesses, as many as the goodput rule
    /// takes; returns the drafted rows in all.
    func planDrafts() -> Int {
        guard let d = draft else { return 0 }
        offers.removeAll(keepingCapacity: true)
        offerOwners.removeAll(keepingCapacity: true)
        var decoding = 0
        for case let r? in slots where r.next != nil {
            decoding += 1
            // Rows fed sit at positions length ..< length + 1 + n, inside the context; a draft past the
            // token limit could never be kept.
            let limit = min(policy.maxDraft, r.seq.remaining - 1, batch.maxContext - 1 - batch.lengths[r.slot])
            r.window.removeSubrange(1...)
            let offered = r.context.withUnsafeBufferPointer { d.propose($0, limit: limit, into: &r.window) }
            offers.append(DraftOffer(alpha: r.alpha, offered: offered))
            offerOwners.append(r)
        }
        var prompts = 0
        for case let r? in slots where r.next == nil { prompts += min(r.seq.prompt.count - r.prefilled, prefillChunk) }
        let prefill = min(prompts, rowBudget - decoding)
        let k = policy.plan(&offers, decodeRows: decoding, otherRows: prefill, room: rowBudget - decoding - prefill, cost: cost,
                            wasSpeculating: wasSpeculating)
        for (i, r) in offerOwners.enumerated() {
            r.drafting = offers[i].take
            r.window.removeSubrange((1 + r.drafting)...)
        }
        offerOwners.removeAll(keepingCapacity: true)
        return k
    }

    /// Measures what forwards of 1, 2, 3, 4, 6, 8, ... 32 rows cost (the shape the goodput rule plans
    /// with; the median of three each), appended to a 256-token context on a free slot, which it leaves empty. `add` runs it first if nobody has.
    public func calibrate() {
        guard let slot = slots.indices.last(where: { slots[$0] == nil }) else { return }
        batch.truncate(slot: slot, to: 0)
        held[slot] = []
        // Past 32 rows the cost is taken as linear (StepCost), so calibrating there would only take time.
        let most = min(rowBudget, slots.count * (policy.maxDraft + 1))
        let counts = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32].filter { $0 <= most && $0 < batch.maxContext }
        // The rows go after a context of typical length, so their attention costs what a decode row's does.
        let context = min(256, batch.maxContext - 1 - (counts.last ?? 1))
        let tokens = (0..<max(context, counts.last ?? 1)).map { Int32(($0 * 7919) % batch.model.config.vocabSize) }
        do {
            var at = 0
            while at < context {
                let n = min(rowBudget, context - at)
                try tokens.withUnsafeBufferPointer { try batch.add(slot: slot, tokens: UnsafeBufferPointer(rebasing: $0[at..<(at + n)]), logits: .none) }
                batch.run()
                at += n
            }
        } catch { return }
        var points: [(rows: Int, seconds: Double)] = []
        var times: [Double] = []
        for n in counts {
            times.removeAll(keepingCapacity: true)
            for _ in 0..<3 {
                batch.truncate(slot: slot, to: context)
                do { try tokens.withUnsafeBufferPointer { try batch.add(slot: slot, tokens: UnsafeBufferPointer(rebasing: $0[0..<n]), logits: .all) } }
                catch { return }
                let t0 = WallClock.now()
                batch.run()
                times.append(WallClock.now() - t0)
            }
            points.append((n, times.sorted()[1]))
        }
        batch.truncate(slot: slot, to: 0)
        if !points.isEmpty { cost.setCalibration(points) }
    }

    private func end(_ r: Running, _ error: (any Error)?) {
        guard slots[r.slot] === r else { return }
        slots[r.slot] = nil
        // Keys and values are held for every position fed; a failed sequence's are not trusted.
        if error == nil { held[r.slot] = Array(r.context.prefix(batch.lengths[r.slot])) }
        else { batch.truncate(slot: r.slot, to: 0) }
        if let e = error { r.done(.failure(e)); return }
        var stats = DecodeStats()
        stats.generation.promptTokens = r.seq.prompt.count
        let now = WallClock.now()
        let first = r.firstToken > 0 ? r.firstToken : now
        stats.generation.prefillSeconds = first - r.started
        stats.generation.generatedTokens = r.seq.tokens.count
        stats.generation.decodeSeconds = now - first
        if r.spec.drafted > 0 {
            var spec = r.spec
            spec.targetForwards = spec.rounds
            spec.targetSeconds = stats.generation.decodeSeconds
            spec.promptTokens = stats.generation.promptTokens
            spec.generatedTokens = r.seq.tokens.count
            spec.prefillSeconds = stats.generation.prefillSeconds
            spec.decodeSeconds = stats.generation.decodeSeconds
            stats.speculative = spec
        }
        r.done(.success(DecodeResult(tokens: r.seq.tokens, text: r.seq.text, stopReason: r.seq.reason ?? .maxTokens, stats: stats,
                                     logprobs: r.seq.options.logprobs != nil ? r.seq.logprobs : nil)))
    }
}

/// What guesses a batched sequence's next tokens.
public enum BatchDraft: String, Sendable, CaseIterable {
    /// Prompt lookup: the tokens that followed the latest earlier occurrence of the text's last n-gram.
    case lookup

    /// Appends up to `limit` guesses after `context` to `window`; returns how many.
    func propose(_ context: UnsafeBufferPointer<Int32>, limit: Int, into window: inout [Int32]) -> Int {
        switch self {
        case .lookup: return PromptLookup.propose(context, limit: limit, appendingTo: &window)
        }
    }
}

/// A batch's counters: slots, forwards, rows, prefix reuse, drafting, time, KV in use, and work moved between threads.
public struct BatchFigures: Sendable {
    public var slots = 0, active = 0, steps = 0, rows = 0, prefixHits = 0, prefixTokens = 0, prefixCopies = 0
    public var drafted = 0, accepted = 0, speculatingSteps = 0
    public var stepSeconds = 0.0
    /// Tokens the forwards gave (each sequence's committed tokens).
    public var tokens = 0
    /// Positions whose keys and values the slots hold (finished sequences' reusable prefixes included).
    public var kvPositions = 0
    public var kvBytesPerPosition = 0.0
    /// Chunks of the products and attention one compute thread took over from another (process-wide).
    public var chunksMoved = 0
    public init() {}
}
