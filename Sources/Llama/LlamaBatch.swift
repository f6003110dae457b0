import Compute
import TensorCore

/// Several sequences in one forward. The KV cache holds `slots` sequences of up to `maxContext`
/// positions each; a forward takes rows from any of them (decode rows, prefill chunks), runs every
/// product over all the rows at once, and lets each row attend to its own sequence. The products and
/// the attention are batch-invariant, so a row's logits are the same bits as in a `LlamaSession`
/// forward of its sequence alone: what else is in the batch never changes a request's output.
///
/// A forward is `add` for each sequence's rows (one chunk per sequence), then `run`. Nothing
/// allocates per forward.
public final class LlamaBatch {
    public let model: LlamaModel
    public let slots: Int
    public let maxContext: Int
    public let maxRows: Int
    /// Positions each sequence holds, the chunks added to the coming forward included.
    public private(set) var lengths: [Int]
    /// Rows added to the coming forward.
    public private(set) var rows = 0
    /// Attach to time every op of every layer (see OpProfile).
    public var opProfile: OpProfile?

    let c: LlamaConfig
    let ws: ForwardWorkspace
    let cache: KVCache
    let runs: UnsafeMutablePointer<AttentionRun>
    var runCount = 0
    /// The batch row of each chunk that asked for logits, in the order added.
    let logitRows: UnsafeMutablePointer<Int>
    var logitCount = 0

    public init(model: LlamaModel, slots: Int, maxContext: Int, maxRows: Int) {
        precondition(slots >= 1 && maxContext >= 2 && maxRows >= 1)
        self.model = model
        c = model.config
        self.slots = slots
        self.maxContext = maxContext
        self.maxRows = maxRows
        lengths = [Int](repeating: 0, count: slots)
        ws = ForwardWorkspace(model: model, maxRows: maxRows, maxKeys: maxContext)
        cache = KVCache(config: model.config, format: model.kvFormat, sequences: slots, maxContext: maxContext)
        runs = .allocate(capacity: maxRows)
        logitRows = .allocate(capacity: maxRows)
    }

    deinit {
        runs.deallocate()
        logitRows.deallocate()
    }

    /// Which rows of a chunk the forward returns logits for: none (a prefill chunk that does not end
    /// its prompt), the last (a decode row, a prompt's last chunk), or all (a verification window).
    public enum LogitRows: Sendable { case none, last, all }

    /// Appends `tokens` to sequence `slot` in the coming forward, asking for `logits` of its rows. A
    /// sequence takes one chunk per forward.
    public func add(slot: Int, tokens: UnsafeBufferPointer<Int32>, logits: LogitRows) throws {
        let n = tokens.count
        guard slot >= 0, slot < slots else { throw LlamaError.slotOutOfRange(slot: slot, slots: slots) }
        guard n >= 1, rows + n <= maxRows else { throw LlamaError.batchTooLarge(rows: rows + n, capacity: maxRows) }
        let start = lengths[slot]
        guard start + n <= maxContext else { throw LlamaError.contextFull(needed: start + n, capacity: maxContext) }
        for i in 0..<runCount where runs[i].cacheOffset == cacheOffset(slot) { throw LlamaError.slotTwiceInBatch(slot: slot) }
        for t in tokens where t < 0 || Int(t) >= c.vocabSize { throw LlamaError.tokenOutOfRange(token: t, vocabSize: c.vocabSize) }
        for i in 0..<n { ws.embed(rows + i, token: tokens[i], position: start + i, model: model) }
        runs[runCount] = AttentionRun(firstRow: rows, rows: n, cacheOffset: cacheOffset(slot), writeAt: start, prefix: start, new: n)
        runCount += 1
        switch logits {
        case .none: break
        case .last:
            logitRows[logitCount] = rows + n - 1
            logitCount += 1
        case .all:
            for i in 0..<n { logitRows[logitCount + i] = rows + i }
            logitCount += n
        }
        rows += n
        lengths[slot] = start + n
    }

    func cacheOffset(_ slot: Int) -> Int { cache.offset(slot) }

    /// Runs the forward over the rows added and returns the logits of the rows asked for, in the
    /// order they were added, `vocabSize` floats apart (valid until the next forward).
    @discardableResult
    public func run() -> UnsafeMutablePointer<Float> {
        precondition(rows > 0, "a forward with no rows")
        let plan = UnsafeBufferPointer(start: runs, count: runCount)
        ws.plan(plan)
        for l in 0..<c.layers {
            ws.layer(l, model: model, rows: rows, runs: plan, keys: cache.keys[l], values: cache.values[l], profile: opProfile)
        }
        opProfile?.forwards += 1
        let t1 = opProfile != nil ? WallClock.now() : 0
        for i in 0..<logitCount {
            Ops.rmsnorm(ws.xb.pointer + i * c.dim, ws.x.pointer + logitRows[i] * c.dim, weight: model.outputNorm.pointer,
                        n: c.dim, eps: c.normEps)
        }
        let out = logitCount > 0 ? ws.head(rows: logitCount, vocabLimit: nil, model: model) : ws.logits.pointer
        if let p = opProfile { p.headSeconds += WallClock.now() - t1 }
        rows = 0
        runCount = 0
        logitCount = 0
        return out
    }

    /// Drops the chunks added since the last forward.
    public func discardAdded() {
        for i in 0..<runCount { lengths[runs[i].cacheOffset / (maxContext * c.kvDim)] = runs[i].writeAt }
        rows = 0
        runCount = 0
        logitCount = 0
    }

    /// Sequence `slot` takes the keys and values of positions `lengths[slot]..<count` from sequence
    /// `source`, which holds at least `count` positions; neither has a chunk in the coming forward.
    /// A position's keys and values depend only on the tokens up to it (every forward is batch- and
    /// chunk-invariant), so when the two sequences agree on those tokens this writes the bits a forward
    /// would, for the price of a copy.
    public func copyPositions(from source: Int, to slot: Int, count: Int) {
        precondition(source >= 0 && source < slots && slot >= 0 && slot < slots && source != slot)
        precondition(count >= lengths[slot] && count <= lengths[source], "copying positions \(lengths[slot])..<\(count) of \(lengths[source])")
        for i in 0..<runCount {
            precondition(runs[i].cacheOffset != cacheOffset(slot) && runs[i].cacheOffset != cacheOffset(source),
                         "copying to or from a slot with a chunk in the coming forward")
        }
        cache.copy(positions: lengths[slot]..<count, from: source, to: slot)
        lengths[slot] = count
    }

    /// Keeps the first `length` positions of sequence `slot` (0 frees it for a new sequence), which
    /// has no chunk in the coming forward.
    public func truncate(slot: Int, to length: Int) {
        precondition(slot >= 0 && slot < slots && length >= 0 && length <= lengths[slot])
        for i in 0..<runCount { precondition(runs[i].cacheOffset != cacheOffset(slot), "truncating a slot with a chunk in the coming forward") }
        lengths[slot] = length
    }
}
