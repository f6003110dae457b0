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
    let attScratch: FloatBuffer  // [maxContext]
    let mask: AlignedBuffer<UInt8>  // maxBatch × maxBatch visibility among the batch rows
    var useMask = false
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
        attScratch = FloatBuffer(count: maxContext + maxBatch)
        mask = AlignedBuffer<UInt8>(count: maxBatch * maxBatch)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: max(model.scratchBytes(rows: maxBatch), 64), alignment: 64)
        let cacheFloats = maxContext * model.config.kvDim
        keys = (0..<model.config.layers).map { _ in FloatBuffer(count: cacheFloats) }
        values = (0..<model.config.layers).map { _ in FloatBuffer(count: cacheFloats) }
    }

    deinit { scratch.deallocate() }

    public var config: LlamaConfig { c }

    /// Drops every KV position at or after `length`. O(1): the slots are simply reused.
    public func truncate(to length: Int) {
        precondition(length >= 0 && length <= kvLength, "truncate(to: \(length)) outside 0...\(kvLength)")
        kvLength = length
        batchRows = 0
        layersDone = 0
    }

    /// Embeds `tokens` as a causal batch appended at `position` (which must equal `kvLength`).
    public func begin(tokens: UnsafeBufferPointer<Int32>, at position: Int) throws {
        try begin(tokens: tokens, at: position, positions: nil, visibility: nil)
    }

    /// General form: row r gets RoPE position `positions[r]` (default `position + r`) and sees the
    /// whole existing cache plus the batch rows j for which `visibility(r, j)` holds (default j <= r).
    /// Every row must see itself.
    public func begin(tokens: UnsafeBufferPointer<Int32>, at position: Int, positions: UnsafeBufferPointer<Int32>?,
                      visibility: ((Int, Int) -> Bool)?) throws {
        let n = tokens.count
        guard position == kvLength else { throw LlamaError.positionMismatch(expected: kvLength, got: position) }
        guard n >= 1, n <= maxBatch else { throw LlamaError.batchTooLarge(rows: n, capacity: maxBatch) }
        guard position + n <= maxContext else { throw LlamaError.contextFull(needed: position + n, capacity: maxContext) }
        for t in tokens where t < 0 || Int(t) >= c.vocabSize {
            throw LlamaError.tokenOutOfRange(token: t, vocabSize: c.vocabSize)
        }
        for r in 0..<n {
            model.tokenEmbedding.copyRow(Int(tokens[r]), into: x.pointer + r * c.dim)
            let pos = positions.map { Int($0[r]) } ?? position + r
            Ops.ropeTable(cos: ropeCos.pointer + r * c.headDim, sin: ropeSin.pointer + r * c.headDim,
                          headDim: c.headDim, position: pos, base: c.ropeBase)
        }
        useMask = visibility != nil
        if let visible = visibility {
            for r in 0..<n {
                for j in 0..<n { mask[r * n + j] = visible(r, j) ? 1 : 0 }
                mask[r * n + r] = 1
            }
        }
        batchStart = position
        batchRows = n
        kvLength = position + n
        layersDone = 0
    }

    /// Runs layers `range` over the current batch; ranges must follow each other from layer 0.
    public func runLayers(_ range: Range<Int>) throws {
        guard batchRows > 0, range.lowerBound == layersDone, range.upperBound <= c.layers else {
            throw LlamaError.invalidLayerRange(range, layers: c.layers)
        }
        for l in range { layer(l) }
        layersDone = range.upperBound
    }

    /// The residual stream after the layers run so far: `batchRows` rows of `dim` floats.
    public var hidden: UnsafePointer<Float> { UnsafePointer(x.pointer) }

    /// Final norm + output head on the current hidden state of `rows` (after all layers: the model's
    /// logits; after fewer: the logit lens). Returns `rows.count` rows of `vocabSize` floats, valid
    /// until the next call.
    @discardableResult
    public func computeLogits(rows: Range<Int>) -> UnsafeMutablePointer<Float> {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= batchRows && !rows.isEmpty)
        for (i, r) in rows.enumerated() {
            Ops.rmsnorm(xb.pointer + i * c.dim, x.pointer + r * c.dim, weight: model.outputNorm.pointer, n: c.dim, eps: c.normEps)
        }
        model.output.apply(xb.pointer, rows: rows.count, into: logitsBuf.pointer, scratch: scratch)
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

    /// Moves KV entries so that the batch rows `kept` (in order) occupy the slots right after the
    /// batch start, and drops every other batch row: O(kept.count · layers). The kept rows must
    /// form the path whose RoPE positions are batchStart, batchStart+1, ...
    public func keepBatchRows(_ kept: UnsafeBufferPointer<Int32>) {
        for (i, r) in kept.enumerated() where Int(r) != i {
            let src = (batchStart + Int(r)) * c.kvDim, dst = (batchStart + i) * c.kvDim
            for l in 0..<c.layers {
                (keys[l].pointer + dst).update(from: keys[l].pointer + src, count: c.kvDim)
                (values[l].pointer + dst).update(from: values[l].pointer + src, count: c.kvDim)
            }
        }
        kvLength = batchStart + kept.count
        batchRows = 0
        layersDone = 0
    }

    private func layer(_ l: Int) {
        let w = model.layers[l]
        let n = batchRows
        let kv = batchStart * c.kvDim
        let kCache = keys[l].pointer, vCache = values[l].pointer
        let qkvDim = c.qDim + 2 * c.kvDim
        for r in 0..<n {
            Ops.rmsnorm(xb.pointer + r * c.dim, x.pointer + r * c.dim, weight: w.attnNorm.pointer, n: c.dim, eps: c.normEps)
        }
        w.wqkv.apply(xb.pointer, rows: n, into: qkv.pointer, scratch: scratch)
        for r in 0..<n {
            let row = qkv.pointer + r * qkvDim
            let cs = ropeCos.pointer + r * c.headDim, sn = ropeSin.pointer + r * c.headDim
            Ops.rope(row, heads: c.heads, headDim: c.headDim, cos: cs, sin: sn)
            Ops.rope(row + c.qDim, heads: c.kvHeads, headDim: c.headDim, cos: cs, sin: sn)
            (kCache + kv + r * c.kvDim).update(from: row + c.qDim, count: c.kvDim)
            (vCache + kv + r * c.kvDim).update(from: row + c.qDim + c.kvDim, count: c.kvDim)
        }
        Ops.attention(out: att.pointer, outStride: c.qDim, q: qkv.pointer, qStride: qkvDim, k: kCache, v: vCache,
                      kvStride: c.kvDim, rows: n, prefix: batchStart, new: n, mask: useMask ? UnsafePointer(mask.pointer) : nil,
                      heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                      scale: 1 / Float(c.headDim).squareRoot(), scratch: attScratch.pointer)
        w.wo.apply(att.pointer, rows: n, into: proj.pointer, scratch: scratch)
        Ops.add(x.pointer, x.pointer, proj.pointer, n: n * c.dim)
        for r in 0..<n {
            Ops.rmsnorm(xb.pointer + r * c.dim, x.pointer + r * c.dim, weight: w.ffnNorm.pointer, n: c.dim, eps: c.normEps)
        }
        w.w13.apply(xb.pointer, rows: n, into: gateUp.pointer, scratch: scratch)
        for r in 0..<n {
            let row = gateUp.pointer + r * 2 * c.ffnDim
            Ops.swiglu(hb.pointer + r * c.ffnDim, gate: row, up: row + c.ffnDim, n: c.ffnDim)
        }
        w.w2.apply(hb.pointer, rows: n, into: proj.pointer, scratch: scratch)
        Ops.add(x.pointer, x.pointer, proj.pointer, n: n * c.dim)
    }
}
