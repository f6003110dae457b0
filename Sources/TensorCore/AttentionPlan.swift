import CKernels

/// The attention runs of one forward (one per sequence in it), kept in a buffer planned once so
/// a forward allocates nothing. `Ops.attention(plan:...)` runs them all in one call.
public final class AttentionPlan {
    public let capacity: Int
    public private(set) var count = 0
    let runs: UnsafeMutablePointer<ck_attn_run>

    public init(capacity: Int) {
        precondition(capacity >= 1)
        self.capacity = capacity
        runs = .allocate(capacity: capacity)
    }

    deinit { runs.deallocate() }

    public func removeAll() { count = 0 }

    /// Query rows `row..<row + rows` attend to the cache `kvOffset` elements into the keys and values:
    /// `prefix` positions plus `new` more, causally or through `mask` (rows × new bytes).
    public func append(row: Int, rows: Int, kvOffset: Int, prefix: Int, new: Int, mask: UnsafePointer<UInt8>?) {
        precondition(count < capacity && rows >= 1 && prefix >= 0 && new >= rows)
        runs[count] = ck_attn_run(row: Int32(row), n_rows: Int32(rows), n_prefix: Int32(prefix), n_new: Int32(new),
                                  kv_offset: kvOffset, mask: mask)
        count += 1
    }
}

extension Ops {
    /// Every run of `plan` over caches `k` and `v` (see ck_attn_f32 for the visibility rule), in one call; with `threaded`,
    /// split over the helper threads by cost, the same bits as one call per run (scratch sized by
    /// `attentionScratchFloats(..., threaded: true)` for the longest run).
    @inline(__always)
    public static func attention(plan: AttentionPlan, out: UnsafeMutablePointer<Float>, outStride: Int, q: UnsafePointer<Float>,
                                 qStride: Int, k: KVBuffer, v: KVBuffer, kvStride: Int, heads: Int, kvHeads: Int, headDim: Int,
                                 scale: Float, scratch: UnsafeMutablePointer<Float>, threaded: Bool) {
        precondition(k.format == v.format)
        ck_attn_runs(out, Int32(outStride), q, Int32(qStride), k.raw, v.raw, Int32(kvStride), k.format == .f16 ? 1 : 0, plan.runs,
                     Int32(plan.count), Int32(heads), Int32(kvHeads), Int32(headDim), scale, scratch, threaded ? 1 : 0)
    }
}
