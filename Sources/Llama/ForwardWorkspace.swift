import Compute
import TensorCore

/// The rows of one forward pass: activations for up to `maxRows` rows, their RoPE tables, and the
/// scratch of the products and the attention, planned once so the per-token path allocates nothing.
/// A session (one sequence) and a batch (several) each own one; both run the same layer math.
final class ForwardWorkspace {
    let c: LlamaConfig
    let maxRows: Int
    // Shapes in comments are per row.
    let x: FloatBuffer        // residual stream [dim]
    let xb: FloatBuffer       // normed input [dim]
    let qkv: FloatBuffer      // [q | k | v] = [qDim + 2·kvDim]
    let att: FloatBuffer      // attention output [qDim]
    let proj: FloatBuffer     // projection output [dim]
    let gateUp: FloatBuffer   // [gate | up] = [2·ffnDim]
    let hb: FloatBuffer       // FFN activation [ffnDim]
    let logits: FloatBuffer   // [vocab]
    let ropeCos: FloatBuffer  // [headDim]
    let ropeSin: FloatBuffer  // [headDim]
    let attScratch: FloatBuffer
    /// The attention runs of the current forward: `plan` sets them once, every layer reads them.
    let attPlan: AttentionPlan
    let scratch: UnsafeMutableRawPointer  // the products' scratch for maxRows rows

    /// `maxKeys`: the most positions one attention run reads.
    init(model: LlamaModel, maxRows: Int, maxKeys: Int) {
        c = model.config
        self.maxRows = maxRows
        x = FloatBuffer(count: maxRows * c.dim)
        xb = FloatBuffer(count: maxRows * c.dim)
        qkv = FloatBuffer(count: maxRows * (c.qDim + 2 * c.kvDim))
        att = FloatBuffer(count: maxRows * c.qDim)
        proj = FloatBuffer(count: maxRows * c.dim)
        gateUp = FloatBuffer(count: maxRows * 2 * c.ffnDim)
        hb = FloatBuffer(count: maxRows * c.ffnDim)
        logits = FloatBuffer(count: maxRows * c.vocabSize)
        ropeCos = FloatBuffer(count: maxRows * c.headDim)
        ropeSin = FloatBuffer(count: maxRows * c.headDim)
        attScratch = FloatBuffer(count: Ops.attentionScratchFloats(rows: maxRows, heads: c.heads, kvHeads: c.kvHeads,
                                                                  keys: maxKeys, threaded: model.threadedAttention))
        attPlan = AttentionPlan(capacity: maxRows)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: max(model.scratchBytes(rows: maxRows), 64), alignment: 64)
    }

    deinit { scratch.deallocate() }

    /// Row `r` holds `token` at RoPE position `position`.
    func embed(_ r: Int, token: Int32, position: Int, model: LlamaModel) {
        model.tokenEmbedding.copyRow(Int(token), into: x.pointer + r * c.dim)
        Ops.ropeTable(cos: ropeCos.pointer + r * c.headDim, sin: ropeSin.pointer + r * c.headDim,
                      headDim: c.headDim, position: position, base: c.ropeBase)
    }

    /// The output head over the first `rows` normed rows of `xb`, into `logits` (rows `vocab` apart;
    /// `vocabLimit` apart when it is below the head's size: a cheaper early-exit proxy).
    func head(rows: Int, vocabLimit: Int?, model: LlamaModel) -> UnsafeMutablePointer<Float> {
        let head = model.headVocab
        if let k = vocabLimit, k < min(c.vocabSize, head) {
            model.output.apply(xb.pointer, rows: rows, outRows: k, into: logits.pointer, scratch: scratch)
        } else if head < c.vocabSize {
            // A restricted head: compute `head` rows, then spread them to full-vocabulary rows with
            // -infinity beyond (last row first, so no row overwrites one not yet moved).
            let v = vocabLimit.map { min($0, c.vocabSize) } ?? c.vocabSize
            model.output.apply(xb.pointer, rows: rows, outRows: head, into: logits.pointer, scratch: scratch)
            for i in stride(from: rows - 1, through: 0, by: -1) {
                let dst = logits.pointer + i * v
                if i > 0 { dst.update(from: logits.pointer + i * head, count: head) }
                (dst + head).update(repeating: -Float.infinity, count: v - head)
            }
        } else {
            model.output.apply(xb.pointer, rows: rows, into: logits.pointer, scratch: scratch)
        }
        return logits.pointer
    }
}

/// The attention of a run of consecutive rows of one sequence: their keys and values are written at
/// position `writeAt` of the cache that starts `cacheOffset` elements into each layer's K and V, and
/// they attend to its first `prefix` positions plus `new` more (causally, or through `mask`).
struct AttentionRun {
    var firstRow: Int
    var rows: Int
    var cacheOffset = 0
    var writeAt: Int
    var prefix: Int
    var new: Int
    var mask: UnsafePointer<UInt8>? = nil
}

extension ForwardWorkspace {
    /// Sets the attention runs of the coming forward's layers.
    func plan(_ runs: UnsafeBufferPointer<AttentionRun>) {
        attPlan.removeAll()
        for run in runs {
            attPlan.append(row: run.firstRow, rows: run.rows, kvOffset: run.cacheOffset, prefix: run.prefix, new: run.new,
                           mask: run.mask)
        }
    }

    /// Layer `l` over `n` rows: the products over all rows at once, the attention of every run in one
    /// call (`runs`, as given to `plan` for this forward).
    func layer(_ l: Int, model: LlamaModel, rows n: Int, runs: UnsafeBufferPointer<AttentionRun>,
               keys: KVBuffer, values: KVBuffer, profile: OpProfile?) {
        let w = model.layers[l]
        let qkvDim = c.qDim + 2 * c.kvDim
        var t = profile != nil ? WallClock.now() : 0
        // The time since the last tick goes to `op`.
        @inline(__always) func tick(_ op: OpProfile.Op) {
            guard let p = profile else { return }
            let now = WallClock.now()
            p.add(now - t, layer: l, op: op)
            t = now
        }
        for r in 0..<n {
            Ops.rmsnorm(xb.pointer + r * c.dim, x.pointer + r * c.dim, weight: w.attnNorm.pointer, n: c.dim, eps: c.normEps)
        }
        tick(.attnNorm)
        w.wqkv.apply(xb.pointer, rows: n, into: qkv.pointer, scratch: scratch)
        tick(.qkv)
        for run in runs {
            for i in 0..<run.rows {
                let r = run.firstRow + i
                let row = qkv.pointer + r * qkvDim
                let cs = ropeCos.pointer + r * c.headDim, sn = ropeSin.pointer + r * c.headDim
                Ops.rope(row, heads: c.heads, headDim: c.headDim, cos: cs, sin: sn)
                Ops.rope(row + c.qDim, heads: c.kvHeads, headDim: c.headDim, cos: cs, sin: sn)
                let at = run.cacheOffset + (run.writeAt + i) * c.kvDim
                keys.store(row + c.qDim, at: at, count: c.kvDim)
                values.store(row + c.qDim + c.kvDim, at: at, count: c.kvDim)
            }
        }
        tick(.ropeKV)
        Ops.attention(plan: attPlan, out: att.pointer, outStride: c.qDim, q: qkv.pointer, qStride: qkvDim, k: keys,
                      v: values, kvStride: c.kvDim, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                      scale: 1 / Float(c.headDim).squareRoot(), scratch: attScratch.pointer, threaded: model.threadedAttention)
        tick(.attention)
        w.wo.apply(att.pointer, rows: n, into: proj.pointer, scratch: scratch)
        Ops.add(x.pointer, x.pointer, proj.pointer, n: n * c.dim)
        tick(.attnOut)
        for r in 0..<n {
            Ops.rmsnorm(xb.pointer + r * c.dim, x.pointer + r * c.dim, weight: w.ffnNorm.pointer, n: c.dim, eps: c.normEps)
        }
        tick(.ffnNorm)
        w.w13.apply(xb.pointer, rows: n, into: gateUp.pointer, scratch: scratch)
        tick(.gateUp)
        for r in 0..<n {
            let row = gateUp.pointer + r * 2 * c.ffnDim
            Ops.swiglu(hb.pointer + r * c.ffnDim, gate: row, up: row + c.ffnDim, n: c.ffnDim)
        }
        tick(.swiglu)
        w.w2.apply(hb.pointer, rows: n, into: proj.pointer, scratch: scratch)
        Ops.add(x.pointer, x.pointer, proj.pointer, n: n * c.dim)
        if let bias = w.ffnDownBias {
            for r in 0..<n { Ops.add(x.pointer + r * c.dim, x.pointer + r * c.dim, bias.pointer, n: c.dim) }
        }
        tick(.ffnDown)
    }
}
