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
    // Activations, maxBatch rows each. Shapes in comments are per row.
    let x: FloatBuffer        // residual stream [dim]
    let xb: FloatBuffer       // normed input [dim]
    let qkv: FloatBuffer      // [q | k | v] = [qDim + 2·kvDim]
    let att: FloatBuffer      // attention output [qDim]
    let proj: FloatBuffer     // projection output [dim]
    let gateUp: FloatBuffer   // [gate | up] = [2·ffnDim]
    let hb: FloatBuffer       // FFN activation [ffnDim]
    let logitsBuf: FloatBuffer  // [vocab]
    let ropeCos: FloatBuffer  // [headDim]
    let ropeSin: FloatBuffer  // [headDim]
    let attScratch: FloatBuffer  // Ops.attentionScratchFloats for maxBatch rows over the whole context
    let mask: AlignedBuffer<UInt8>  // maxBatch × (maxPending + maxBatch): row r sees new slot j
    var useMask = false
    var attnPrefix = 0  // KV slots every row sees
    var attnNew = 0     // slots after the prefix, filtered by the mask
    public let maxPending: Int
    let treeParent: AlignedBuffer<Int32>  // per pending node: parent node index, -1 = the committed prefix
    let treeDepth: AlignedBuffer<Int32>   // per pending node: 0 for a child of the committed prefix
    let scratch: UnsafeMutableRawPointer  // backend scratch for maxBatch rows
    // KV cache: per layer [maxContext][kvDim].
    let keys: [FloatBuffer]
    let values: [FloatBuffer]

    init(model: LlamaModel, maxContext: Int, maxBatch: Int) {
        self.model = model
        c = model.config
        self.maxContext = maxContext
        self.maxBatch = maxBatch
        x = FloatBuffer(count: maxBatch * c.dim)
        xb = FloatBuffer(count: maxBatch * c.dim)
        qkv = FloatBuffer(count: maxBatch * (c.qDim + 2 * c.kvDim))
        att = FloatBuffer(count: maxBatch * c.qDim)
        proj = FloatBuffer(count: maxBatch * c.dim)
        gateUp = FloatBuffer(count: maxBatch * 2 * c.ffnDim)
        hb = FloatBuffer(count: maxBatch * c.ffnDim)
        logitsBuf = FloatBuffer(count: maxBatch * c.vocabSize)
        ropeCos = FloatBuffer(count: maxBatch * c.headDim)
        ropeSin = FloatBuffer(count: maxBatch * c.headDim)
        attScratch = FloatBuffer(count: Ops.attentionScratchFloats(rows: maxBatch, heads: c.heads, kvHeads: c.kvHeads,
                                                                  keys: maxContext + maxBatch, threaded: model.threadedAttention))
        maxPending = 1024
        mask = AlignedBuffer<UInt8>(count: maxBatch * (maxPending + maxBatch))
        treeParent = AlignedBuffer<Int32>(count: maxPending + maxBatch)
        treeDepth = AlignedBuffer<Int32>(count: maxPending + maxBatch)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: max(model.scratchBytes(rows: maxBatch), 64), alignment: 64)
        let cacheFloats = maxContext * model.config.kvDim
        keys = (0..<model.config.layers).map { _ in FloatBuffer(count: cacheFloats) }
        values = (0..<model.config.layers).map { _ in FloatBuffer(count: cacheFloats) }
    }

    deinit { scratch.deallocate() }

    public var config: LlamaConfig { c }

    /// Attach to time every op of every layer (see OpProfile).
    public var opProfile: OpProfile?

    @inline(__always) func tick(_ l: Int, _ op: Int, _ t: inout Double) {
        guard let p = opProfile else { return }
        let now = WallClock.now()
        p.seconds[l * OpProfile.ops.count + op] += now - t
        t = now
    }

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
        for r in 0..<n {
            model.tokenEmbedding.copyRow(Int(tokens[r]), into: x.pointer + r * c.dim)
            Ops.ropeTable(cos: ropeCos.pointer + r * c.headDim, sin: ropeSin.pointer + r * c.headDim,
                          headDim: c.headDim, position: position + r, base: c.ropeBase)
        }
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
            model.tokenEmbedding.copyRow(Int(tokens[r]), into: x.pointer + r * c.dim)
            Ops.ropeTable(cos: ropeCos.pointer + r * c.headDim, sin: ropeSin.pointer + r * c.headDim,
                          headDim: c.headDim, position: committedLength + Int(treeDepth[node]), base: c.ropeBase)
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
            let src = (committedLength + node(i)) * c.kvDim, dst = (committedLength + i) * c.kvDim
            for l in 0..<c.layers {
                (keys[l].pointer + dst).update(from: keys[l].pointer + src, count: c.kvDim)
                (values[l].pointer + dst).update(from: values[l].pointer + src, count: c.kvDim)
            }
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
        for l in range { layer(l) }
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

    /// The output head over the `rows` normed rows in `xb`.
    private func head(rows: Int, vocabLimit: Int?) -> UnsafeMutablePointer<Float> {
        let head = model.headVocab
        if let k = vocabLimit, k < min(c.vocabSize, head) {
            // Rows `k` apart: the logits of the first k tokens only (a cheaper early-exit proxy).
            model.output.apply(xb.pointer, rows: rows, outRows: k, into: logitsBuf.pointer, scratch: scratch)
        } else if head < c.vocabSize {
            // A restricted head: compute `head` rows, then spread them to full-vocabulary rows with
            // -infinity beyond (last row first, so no row overwrites one not yet moved).
            let v = vocabLimit.map { min($0, c.vocabSize) } ?? c.vocabSize
            model.output.apply(xb.pointer, rows: rows, outRows: head, into: logitsBuf.pointer, scratch: scratch)
            for i in stride(from: rows - 1, through: 0, by: -1) {
                let dst = logitsBuf.pointer + i * v
                if i > 0 { dst.update(from: logitsBuf.pointer + i * head, count: head) }
                (dst + head).update(repeating: -Float.infinity, count: v - head)
            }
        } else {
            model.output.apply(xb.pointer, rows: rows, into: logitsBuf.pointer, scratch: scratch)
        }
        return logitsBuf.pointer
    }

    /// Appends `tokens` at `position` and returns logits: for the last row only, or for all rows.
    @discardableResult
    public func forward(_ tokens: UnsafeBufferPointer<Int32>, at position: Int, allLogits: Bool = false) throws -> UnsafeMutablePointer<Float> {
        try begin(tokens: tokens, at: position)
        try runLayers(0..<c.layers)
        return computeLogits(rows: allLogits ? 0..<tokens.count : (tokens.count - 1)..<tokens.count)
    }

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

    private func layer(_ l: Int) {
        let w = model.layers[l]
        let n = batchRows
        let kv = batchStart * c.kvDim
        let kCache = keys[l].pointer, vCache = values[l].pointer
        let qkvDim = c.qDim + 2 * c.kvDim
        var t = opProfile != nil ? WallClock.now() : 0
        for r in 0..<n {
            Ops.rmsnorm(xb.pointer + r * c.dim, x.pointer + r * c.dim, weight: w.attnNorm.pointer, n: c.dim, eps: c.normEps)
        }
        tick(l, 0, &t)
        w.wqkv.apply(xb.pointer, rows: n, into: qkv.pointer, scratch: scratch)
        tick(l, 1, &t)
        for r in 0..<n {
            let row = qkv.pointer + r * qkvDim
            let cs = ropeCos.pointer + r * c.headDim, sn = ropeSin.pointer + r * c.headDim
            Ops.rope(row, heads: c.heads, headDim: c.headDim, cos: cs, sin: sn)
            Ops.rope(row + c.qDim, heads: c.kvHeads, headDim: c.headDim, cos: cs, sin: sn)
            (kCache + kv + r * c.kvDim).update(from: row + c.qDim, count: c.kvDim)
            (vCache + kv + r * c.kvDim).update(from: row + c.qDim + c.kvDim, count: c.kvDim)
        }
        tick(l, 2, &t)
        Ops.attention(out: att.pointer, outStride: c.qDim, q: qkv.pointer, qStride: qkvDim, k: kCache, v: vCache,
                      kvStride: c.kvDim, rows: n, prefix: attnPrefix, new: attnNew, mask: useMask ? UnsafePointer(mask.pointer) : nil,
                      heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                      scale: 1 / Float(c.headDim).squareRoot(), scratch: attScratch.pointer, threaded: model.threadedAttention)
        tick(l, 3, &t)
        w.wo.apply(att.pointer, rows: n, into: proj.pointer, scratch: scratch)
        Ops.add(x.pointer, x.pointer, proj.pointer, n: n * c.dim)
        tick(l, 4, &t)
        for r in 0..<n {
            Ops.rmsnorm(xb.pointer + r * c.dim, x.pointer + r * c.dim, weight: w.ffnNorm.pointer, n: c.dim, eps: c.normEps)
        }
        tick(l, 5, &t)
        w.w13.apply(xb.pointer, rows: n, into: gateUp.pointer, scratch: scratch)
        tick(l, 6, &t)
        for r in 0..<n {
            let row = gateUp.pointer + r * 2 * c.ffnDim
            Ops.swiglu(hb.pointer + r * c.ffnDim, gate: row, up: row + c.ffnDim, n: c.ffnDim)
        }
        tick(l, 7, &t)
        w.w2.apply(hb.pointer, rows: n, into: proj.pointer, scratch: scratch)
        Ops.add(x.pointer, x.pointer, proj.pointer, n: n * c.dim)
        if let bias = w.ffnDownBias {
            for r in 0..<n { Ops.add(x.pointer + r * c.dim, x.pointer + r * c.dim, bias.pointer, n: c.dim) }
        }
        tick(l, 8, &t)
    }
}
