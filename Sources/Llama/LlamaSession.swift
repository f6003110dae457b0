import Compute
import TensorCore

/// The mutable state of one inference stream: KV cache, activations and the current batch. Owned
/// by one thread. Every buffer is planned here, once, so the per-token path allocates nothing.
///
/// A forward pass is `begin` (embed the rows and reserve their KV slots), `runLayers` over any
/// contiguous layer ranges (so a caller can stop after layer ℓ, read `hidden`, and go on), then
/// `computeLogits` for the rows it wants. `forward` does all three.
public final class LlamaSession {
    public let model: LlamaModel
    public let maxContext: Int
    public let maxBatch: Int
    /// Positions held in the KV cache (the current batch included once `begin` has run).
    public private(set) var kvLength = 0
    public private(set) var batchRows = 0
    /// KV slot of the batch's first row.
    public private(set) var batchStart = 0
    public private(set) var layersDone = 0
    /// KV positions that are settled: everything before it is seen by every row. Equal to
    /// `kvLength` except while a tree of speculative branches is pending (see `forwardTree`).
    public private(set) var committedLength = 0
    /// Pending tree nodes occupy KV slots [committedLength, kvLength).
    public var pendingCount: Int { kvLength - committedLength }

    let c: LlamaConfig
    let ws: ForwardWorkspace
    var x: FloatBuffer { ws.x }
    var xb: FloatBuffer { ws.xb }
    var proj: FloatBuffer { ws.proj }
    var scratch: UnsafeMutableRawPointer { ws.scratch }
    let mask: AlignedBuffer<UInt8>  // maxBatch × (maxPending + maxBatch): row r sees new slot j
    var useMask = false
    var attnPrefix = 0  // KV slots every row sees
    var attnNew = 0     // slots after the prefix, filtered by the mask
    public let maxPending: Int
    let treeParent: AlignedBuffer<Int32>  // per pending node: parent node index, -1 = the committed prefix
    let treeDepth: AlignedBuffer<Int32>   // per pending node: 0 for a child of the committed prefix
    /// One sequence of maxContext positions; pending tree nodes sit after the committed ones.
    let cache: KVCache

    init(model: LlamaModel, maxContext: Int, maxBatch: Int) {
        self.model = model
        c = model.config
        self.maxContext = maxContext
        self.maxBatch = maxBatch
        ws = ForwardWorkspace(model: model, maxRows: maxBatch, maxKeys: maxContext + maxBatch)
        maxPending = 1024
        mask = AlignedBuffer<UInt8>(count: maxBatch * (maxPending + maxBatch))
        treeParent = AlignedBuffer<Int32>(count: maxPending + maxBatch)
        treeDepth = AlignedBuffer<Int32>(count: maxPending + maxBatch)
        cache = KVCache(config: model.config, format: model.kvFormat, sequences: 1, maxContext: maxContext)
    }

    public var config: LlamaConfig { c }

    /// Attach to time every op of every layer (see OpProfile).
    public var opProfile: OpProfile?

    /// Drops every KV position at or after `length`. O(1): the slots are simply reused.
    public func truncate(to length: Int) {
        precondition(length >= 0 && length <= kvLength, "truncate(to: \(length)) outside 0...\(kvLength)")
        kvLength = length
        features?.truncate(to: length)
        // Tree nodes are appended parents first, so the first pending nodes still form a tree.
        committedLength = min(committedLength, length)
        batchRows = 0
        layersDone = 0
    }

    /// Embeds `tokens` as a causal batch appended at `position` (which must equal `kvLength`).
    public func begin(tokens: UnsafeBufferPointer<Int32>, at position: Int) throws {
        let n = tokens.count
        guard pendingCount == 0 else { throw LlamaError.treePending(pendingCount) }
        guard position == kvLength else { throw LlamaError.positionMismatch(expected: kvLength, got: position) }
        guard n >= 1, n <= maxBatch else { throw LlamaError.batchTooLarge(rows: n, capacity: maxBatch) }
        guard position + n <= maxContext else { throw LlamaError.contextFull(needed: position + n, capacity: maxContext) }
        for t in tokens where t < 0 || Int(t) >= c.vocabSize {
            throw LlamaError.tokenOutOfRange(token: t, vocabSize: c.vocabSize)
        }
        for r in 0..<n { ws.embed(r, token: tokens[r], position: position + r, model: model) }
        useMask = false
        batchStart = position
        batchRows = n
        kvLength = position + n
        committedLength = kvLength
        attnPrefix = position
        attnNew = n
        layersDone = 0
    }

    /// Appends tree nodes after the committed prefix and returns every row's logits. parents[r] is
    /// -1 for a child of the committed prefix, p < pendingCount for a child of pending node p, or
    /// pendingCount + j (j < r) for a child of row j of this batch. Each row sees the committed
    /// prefix and its own ancestors only, at RoPE position committedLength + depth. The rows become
    /// pending nodes pendingCount ..< pendingCount + rows. Nothing allocates.
    @discardableResult
    public func forwardTree(_ tokens: UnsafeBufferPointer<Int32>, parents: UnsafeBufferPointer<Int32>) throws -> UnsafeMutablePointer<Float> {
        let n = tokens.count
        let first = pendingCount
        guard n >= 1, n <= maxBatch, parents.count == n else { throw LlamaError.batchTooLarge(rows: n, capacity: maxBatch) }
        guard first + n <= maxPending else { throw LlamaError.batchTooLarge(rows: first + n, capacity: maxPending) }
        guard kvLength + n <= maxContext else { throw LlamaError.contextFull(needed: kvLength + n, capacity: maxContext) }
        for r in 0..<n {
            let p = Int(parents[r])
            guard p >= -1, p < first + r else { throw LlamaError.invalidTreeParent(row: r, parent: p) }
            guard tokens[r] >= 0, Int(tokens[r]) < c.vocabSize else { throw LlamaError.tokenOutOfRange(token: tokens[r], vocabSize: c.vocabSize) }
        }
        let width = first + n
        for r in 0..<n {
            let node = first + r
            let p = Int(parents[r])
            treeParent[node] = Int32(p)
            treeDepth[node] = p < 0 ? 0 : treeDepth[p] + 1
            let row = mask.pointer + r * width
            row.update(repeating: 0, count: width)
            var a = node
            while a >= 0 { row[a] = 1; a = Int(treeParent[a]) }
            ws.embed(r, token: tokens[r], position: committedLength + Int(treeDepth[node]), model: model)
        }
        useMask = true
        batchStart = kvLength
        batchRows = n
        kvLength += n
        attnPrefix = committedLength
        attnNew = width
        layersDone = 0
        try runLayers(0..<c.layers)
        return computeLogits(rows: 0..<n)
    }

    /// Keeps the pending nodes on `path` (a chain from a child of the committed prefix, each node
    /// the parent of the next) as committed positions, keeps the chain `keep` (which continues
    /// `path`) as the new pending nodes, and drops every other pending node:
    /// O((path + keep) · layers) copies, no allocation.
    public func commitTree(path: UnsafeBufferPointer<Int32>, keep: UnsafeBufferPointer<Int32> = UnsafeBufferPointer(start: nil, count: 0)) throws {
        let total = path.count + keep.count
        func node(_ i: Int) -> Int { i < path.count ? Int(path[i]) : Int(keep[i - path.count]) }
        var expectParent = -1
        for i in 0..<total {
            let p = node(i)
            guard p >= 0, p < pendingCount, Int(treeParent[p]) == expectParent else {
                throw LlamaError.invalidTreeParent(row: p, parent: expectParent)
            }
            expectParent = p
        }
        // Nodes are numbered parents first, so every destination slot is at or below its source.
        for i in 0..<total where node(i) != i {
            cache.move(sequence: 0, from: committedLength + node(i), to: committedLength + i)
        }
        committedLength += path.count
        for i in 0..<keep.count {
            treeParent[i] = Int32(i - 1)
            treeDepth[i] = Int32(i)
        }
        kvLength = committedLength + keep.count
        batchRows = 0
        layersDone = 0
    }

    /// Runs layers `range` over the current batch; ranges must follow each other from layer 0.
    public func runLayers(_ range: Range<Int>) throws {
        guard batchRows > 0, range.lowerBound == layersDone, range.upperBound <= c.layers else {
            throw LlamaError.invalidLayerRange(range, layers: c.layers)
        }
        let run = AttentionRun(firstRow: 0, rows: batchRows, writeAt: batchStart, prefix: attnPrefix, new: attnNew,
                               mask: useMask ? UnsafePointer(mask.pointer) : nil)
        withUnsafePointer(to: run) { one in
            let runs = UnsafeBufferPointer(start: one, count: 1)
            ws.plan(runs)
            for l in range {
                ws.layer(l, model: model, rows: batchRows, runs: runs, keys: cache.keys[l], values: cache.values[l], profile: opProfile)
            }
        }
        if range.lowerBound == 0 { opProfile?.forwards += 1 }
        layersDone = range.upperBound
        // Tree rows are speculative branches, not positions of the sequence: only causal batches count.
        if layersDone == c.layers, !useMask, let f = features { f.write(x.pointer, rows: batchRows, at: batchStart) }
    }

    /// Where this session records its last hidden states for a `FeatureDraft` (nil: nowhere).
    public var features: TargetFeatures? {
        didSet { features?.truncate(to: 0) }
    }

    /// The residual stream after the layers run so far: `batchRows` rows of `dim` floats.
    public var hidden: UnsafePointer<Float> { UnsafePointer(x.pointer) }

    /// Final norm + output head on the current hidden state of `rows` (after all layers: the model's
    /// logits; after fewer: the logit lens). Returns `rows.count` rows of `vocabSize` floats, valid
    /// until the next call.
    @discardableResult
    public func computeLogits(rows: Range<Int>, vocabLimit: Int? = nil) -> UnsafeMutablePointer<Float> {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= batchRows && !rows.isEmpty)
        let t0 = opProfile != nil ? WallClock.now() : 0
        defer { if let p = opProfile { p.headSeconds += WallClock.now() - t0 } }
        for i in 0..<rows.count {  // a plain range: even an unoptimized build allocates nothing here
            Ops.rmsnorm(xb.pointer + i * c.dim, x.pointer + (rows.lowerBound + i) * c.dim, weight: model.outputNorm.pointer,
                        n: c.dim, eps: c.normEps)
        }
        return head(rows: rows.count, vocabLimit: vocabLimit)
    }

    /// The trained exit lens the early-exit proxy applies (see ExitLens); nil: the raw logit lens.
    public var exitLens: ExitLens? {
        didSet {
            if exitLens != nil, lensOut == nil { lensOut = FloatBuffer(count: maxBatch * c.dim) }
        }
    }
    var lensOut: FloatBuffer?

    /// Like `computeLogits`, through the exit lens when one is attached for the layers run so far:
    /// head(w ⊙ rms_norm(A·u + b)), u = h / rms(h).
    public func computeProxyLogits(rows: Range<Int>, vocabLimit: Int? = nil) -> UnsafeMutablePointer<Float> {
        guard let lens = exitLens, lens.layer == layersDone, let out = lensOut else {
            return computeLogits(rows: rows, vocabLimit: vocabLimit)
        }
        precondition(rows.lowerBound >= 0 && rows.upperBound <= batchRows && !rows.isEmpty)
        let t0 = opProfile != nil ? WallClock.now() : 0
        defer { if let p = opProfile { p.headSeconds += WallClock.now() - t0 } }
        let d = c.dim
        for i in 0..<rows.count {
            Ops.rmsnorm(proj.pointer + i * d, x.pointer + (rows.lowerBound + i) * d, weight: lens.unitGain.pointer, n: d, eps: c.normEps)
        }
        lens.weight.apply(proj.pointer, rows: rows.count, into: out.pointer, scratch: scratch)
        for i in 0..<rows.count {
            let row = out.pointer + i * d
            for j in 0..<d { row[j] += lens.bias.pointer[j] }
            Ops.rmsnorm(xb.pointer + i * d, row, weight: model.outputNorm.pointer, n: d, eps: c.normEps)
        }
        return head(rows: rows.count, vocabLimit: vocabLimit)
    }

    private func head(rows: Int, vocabLimit: Int?) -> UnsafeMutablePointer<Float> { ws.head(rows: rows, vocabLimit: vocabLimit, model: model) }

    /// Appends `tokens` at `position` and returns logits: for the last row only, or for all rows.
    @discardableResult
    public func forward(_ tokens: UnsafeBufferPointer<Int32>, at position: Int, allLogits: Bool = false) throws -> UnsafeMutablePointer<Float> {
        try begin(tokens: tokens, at: position)
        try runLayers(0..<c.layers)
        return computeLogits(rows: allLogits ? 0..<tokens.count : (tokens.count - 1)..<tokens.count)
    }

    @discardableResult
    public func forward(_ tokens: [Int32], at position: Int, allLogits: Bool = false) throws -> UnsafeMutablePointer<Float> {
        try tokens.withUnsafeBufferPointer { try forward($0, at: position, allLogits: allLogits) }
    }

    /// Prefill in chunks of at most `maxBatch` rows; returns the last row's logits.
    @discardableResult
    public func prefill(_ tokens: [Int32], at position: Int) throws -> UnsafeMutablePointer<Float> {
        precondition(!tokens.isEmpty)
        var start = 0
        var out: UnsafeMutablePointer<Float>! = nil
        while start < tokens.count {
            let end = min(tokens.count, start + maxBatch)
            out = try tokens.withUnsafeBufferPointer {
                try forward(UnsafeBufferPointer(rebasing: $0[start..<end]), at: position + start)
            }
            start = end
        }
        return out
    }
}
