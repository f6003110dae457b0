import Generation
import Llama
import TensorCore
import Tokenizer

/// Continuous batching of plain decoding: many sequences share each forward. Sequences join and
/// leave at any step; prompts are prefilled in chunks beside the decode rows, under a row budget per
/// step. Each sequence's tokens are exactly what `generate --mode ar` gives it alone: the batch's
/// forward is batch-invariant, and each sequence samples with its own seeded sampler.
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
        var started = WallClock.now()
        var firstToken = 0.0

        init(id: Int, seq: ARSequence, slot: Int, onText: @escaping (String) -> Bool, done: @escaping (Result<DecodeResult, any Error>) -> Void) {
            self.id = id
            self.seq = seq
            self.slot = slot
            self.onText = onText
            self.done = done
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
    /// Rows of each chunk added to the coming forward that asked for logits, in the order added.
    var order: [Running] = []
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

    public init(model: LlamaModel, tokenizer: Tokenizer, slots: Int, context: Int, rowBudget: Int = 64, prefillChunk: Int = 32) {
        batch = LlamaBatch(model: model, slots: slots, maxContext: context, maxRows: rowBudget)
        self.tokenizer = tokenizer
        self.rowBudget = rowBudget
        self.prefillChunk = min(prefillChunk, rowBudget)
        self.slots = [Running?](repeating: nil, count: slots)
        held = [[Int32]](repeating: [], count: slots)
        order.reserveCapacity(slots)
    }

    public var freeSlots: Int { slots.reduce(0) { $0 + ($1 == nil ? 1 : 0) } }
    public var activeCount: Int { slots.count - freeSlots }
    public var isIdle: Bool { activeCount == 0 }

    /// Starts a sequence in a free slot; its text goes to `onText` (false stops it) and its result to
    /// `done`, both on the thread that steps. Returns its id, or nil when every slot is taken.
    public func add(prompt: [Int32], options: GenerationOptions, onText: @escaping (String) -> Bool,
                    done: @escaping (Result<DecodeResult, any Error>) -> Void) throws -> Int? {
        let seq = try ARSequence(prompt: prompt, options: options, tokenizer: tokenizer, vocabSize: batch.model.config.vocabSize,
                                 maxContext: batch.maxContext)
        // The free slot holding the longest prefix of the prompt (at least its last token is fed, for
        // its logits); ties: the lowest slot.
        var best: (slot: Int, reuse: Int)? = nil
        for s in slots.indices where slots[s] == nil {
            var n = 0
            let limit = min(held[s].count, prompt.count - 1)
            while n < limit && held[s][n] == prompt[n] { n += 1 }
            if best == nil || n > best!.reuse { best = (s, n) }
        }
        guard let (slot, reuse) = best else { return nil }
        batch.truncate(slot: slot, to: reuse)
        held[slot] = []
        if reuse > 0 {
            prefixHits += 1
            prefixTokensReused += reuse
        }
        nextID += 1
        let r = Running(id: nextID, seq: seq, slot: slot, onText: onText, done: done)
        r.prefilled = reuse
        slots[slot] = r
        return nextID
    }

    /// Ends sequence `id` at once, as its caller stopping it would (a client that hung up).
    public func cancel(_ id: Int) {
        guard let r = slots.compactMap({ $0 }).first(where: { $0.id == id }) else { return }
        r.seq.finish(.callerStopped, onText: { _ in true })
        end(r, nil)
    }

    /// One forward over every running sequence: a decode row each, then prefill chunks. Returns false
    /// when there was nothing to run.
    @discardableResult
    public func step() -> Bool {
        order.removeAll(keepingCapacity: true)
        lastPrefillRows = 0
        for case let r? in slots where r.next != nil {
            var t = r.next!
            do { try withUnsafePointer(to: &t) { try batch.add(slot: r.slot, tokens: UnsafeBufferPointer(start: $0, count: 1), logits: true) } }
            catch { end(r, error); continue }
            order.append(r)
        }
        for i in 0..<slots.count where batch.rows < rowBudget {
            guard let r = slots[(prefillCursor + i) % slots.count], r.next == nil else { continue }
            let n = min(r.seq.prompt.count - r.prefilled, rowBudget - batch.rows, prefillChunk)
            guard n > 0 else { continue }
            let last = r.prefilled + n == r.seq.prompt.count
            do {
                try r.seq.prompt.withUnsafeBufferPointer {
                    try batch.add(slot: r.slot, tokens: UnsafeBufferPointer(rebasing: $0[r.prefilled..<(r.prefilled + n)]), logits: last)
                }
            } catch { end(r, error); continue }
            r.prefilled += n
            lastPrefillRows += n
            if last { order.append(r) }
        }
        prefillCursor = (prefillCursor + 1) % slots.count
        guard batch.rows > 0 else { return false }
        stepCount += 1
        rowsRun += batch.rows
        let logits = batch.run()
        let v = batch.model.config.vocabSize
        for (i, r) in order.enumerated() {
            if r.seq.tokens.isEmpty { r.firstToken = WallClock.now() }
            do {
                if let t = try r.seq.next(logits + i * v, onText: r.onText) { r.next = t } else { end(r, nil) }
            } catch { end(r, error) }
        }
        return true
    }

    private func end(_ r: Running, _ error: (any Error)?) {
        guard slots[r.slot] === r else { return }
        slots[r.slot] = nil
        // Keys and values are held for every position fed; a failed sequence's are not trusted.
        if error == nil { held[r.slot] = Array((r.seq.prompt + r.seq.tokens).prefix(batch.lengths[r.slot])) }
        else { batch.truncate(slot: r.slot, to: 0) }
        if let e = error { r.done(.failure(e)); return }
        var stats = DecodeStats()
        stats.generation.promptTokens = r.seq.prompt.count
        let now = WallClock.now()
        let first = r.firstToken > 0 ? r.firstToken : now
        stats.generation.prefillSeconds = first - r.started
        stats.generation.generatedTokens = r.seq.tokens.count
        stats.generation.decodeSeconds = now - first
        r.done(.success(DecodeResult(tokens: r.seq.tokens, text: r.seq.text, stopReason: r.seq.reason ?? .maxTokens, stats: stats,
                                     logprobs: r.seq.options.logprobs != nil ? r.seq.logprobs : nil)))
    }
}
