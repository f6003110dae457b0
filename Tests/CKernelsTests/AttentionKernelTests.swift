import CKernels
import TensorCore
import TestSupport
import XCTest

final class AttentionKernelTests: XCTestCase {
    func run(_ impl: (UnsafeMutablePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?,
                      UnsafePointer<Float>?, Int32, Int32, Int32, Int32, UnsafePointer<UInt8>?, Int32, Int32, Int32,
                      Float, UnsafeMutablePointer<Float>?) -> Void,
             q: [Float], k: [Float], v: [Float], rows: Int, prefix: Int, new: Int, mask: [UInt8]?, heads: Int,
             kvHeads: Int, headDim: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: rows * heads * headDim)
        let floats = ck_attn_scratch_floats(Int32(rows), Int32(heads), Int32(kvHeads), Int32(prefix + new))
        var scratch = [Float](repeating: 0, count: Int(floats))
        let maskPtr = mask.map { m -> UnsafeMutablePointer<UInt8> in
            let p = UnsafeMutablePointer<UInt8>.allocate(capacity: m.count)
            p.initialize(from: m, count: m.count)
            return p
        }
        defer { maskPtr?.deallocate() }
        impl(&out, Int32(heads * headDim), q, Int32(heads * headDim), k, v, Int32(kvHeads * headDim), Int32(rows),
             Int32(prefix), Int32(new), maskPtr.map { UnsafePointer($0) }, Int32(heads), Int32(kvHeads), Int32(headDim),
             1 / Float(headDim).squareRoot(), &scratch)
        return out
    }

    func testAttentionMatchesReferenceOverOddKeyCountsAndHeadSizes() {
        forEachTier { _ in
            var rng = SeededRNG(seed: 21)
            for keys in oddSizes {
                for (heads, kvHeads, headDim) in [(1, 1, 8), (4, 2, 7), (9, 3, 64), (2, 1, 17)] {
                    for rows in [1, 3] where rows <= keys {
                        let prefix = keys - rows
                        let q = rng.floats(rows * heads * headDim, scale: 2)
                        let k = rng.floats(keys * kvHeads * headDim, scale: 2), v = rng.floats(keys * kvHeads * headDim)
                        let a = run(ck_attn_f32_ref, q: q, k: k, v: v, rows: rows, prefix: prefix, new: rows, mask: nil,
                                    heads: heads, kvHeads: kvHeads, headDim: headDim)
                        let b = run(ck_attn_f32, q: q, k: k, v: v, rows: rows, prefix: prefix, new: rows, mask: nil,
                                    heads: heads, kvHeads: kvHeads, headDim: headDim)
                        assertClose(a, b, rel: 1e-5, scale: [Float](repeating: 1, count: a.count),
                                    "attention keys=\(keys) heads=\(heads)/\(kvHeads) d=\(headDim) rows=\(rows)")
                    }
                }
            }
        }
    }

    func testOneKeyReturnsItsValueAndMaskHidesKeys() {
        forEachTier { _ in
            let v: [Float] = [0.5, -2, 3, 7]
            for impl in [ck_attn_f32_ref, ck_attn_f32] {
                let out = run(impl, q: [1, 2, 3, 4], k: [9, 9, 9, 9], v: v, rows: 1, prefix: 1, new: 0, mask: nil,
                              heads: 1, kvHeads: 1, headDim: 4)
                XCTAssertEqual(out, v)
                // Two new rows; row 1 sees only itself (not row 0) through the mask.
                let out2 = run(impl, q: [1, 0, 0, 0, 0, 1, 0, 0], k: [5, 0, 0, 0, 0, 5, 0, 0], v: [1, 1, 1, 1, 2, 2, 2, 2],
                               rows: 2, prefix: 0, new: 2, mask: [1, 0, 0, 1], heads: 1, kvHeads: 1, headDim: 4)
                XCTAssertEqual(Array(out2[0..<4]), [1, 1, 1, 1])
                XCTAssertEqual(Array(out2[4..<8]), [2, 2, 2, 2])
            }
        }
    }

    func testLargeScoresStayFinite() {
        forEachTier { _ in
            var rng = SeededRNG(seed: 22)
            let q = rng.floats(64, scale: 100), k = rng.floats(33 * 64, scale: 100), v = rng.floats(33 * 64)
            let a = run(ck_attn_f32_ref, q: q, k: k, v: v, rows: 1, prefix: 32, new: 1, mask: nil, heads: 1, kvHeads: 1, headDim: 64)
            let b = run(ck_attn_f32, q: q, k: k, v: v, rows: 1, prefix: 32, new: 1, mask: nil, heads: 1, kvHeads: 1, headDim: 64)
            XCTAssertTrue(b.allSatisfy(\.isFinite))
            assertClose(a, b, rel: 1e-5, scale: [Float](repeating: 1, count: 64), "large scores")
        }
    }

    /// Row r of a causal verification batch (prefix L, new n) sees keys [0, L + r]: its output must be
    /// bit-identical to decoding that row alone over L + r cached keys, for every row and chunk split.
    func testAttentionIsBatchInvariant() {
        forEachTier { tier in
            var rng = SeededRNG(seed: 23)
            for (heads, kvHeads, headDim) in [(9, 3, 64), (4, 2, 7), (3, 3, 16)] {
                for (prefix, new) in [(0, 5), (7, 5), (40, 16), (130, 9), (511, 12)] {
                    let keys = prefix + new, width = heads * headDim
                    let q = rng.floats(new * width, scale: 2)
                    let k = rng.floats(keys * kvHeads * headDim, scale: 2), v = rng.floats(keys * kvHeads * headDim)
                    let batch = run(ck_attn_f32, q: q, k: k, v: v, rows: new, prefix: prefix, new: new, mask: nil,
                                    heads: heads, kvHeads: kvHeads, headDim: headDim)
                    for r in 0..<new {
                        let alone = run(ck_attn_f32, q: Array(q[(r * width)..<((r + 1) * width)]), k: k, v: v, rows: 1,
                                        prefix: prefix + r, new: 1, mask: nil, heads: heads, kvHeads: kvHeads, headDim: headDim)
                        XCTAssertEqual(Array(batch[(r * width)..<((r + 1) * width)]), alone,
                                       "\(tier): row \(r) of \(new) over prefix \(prefix), heads \(heads)/\(kvHeads) d=\(headDim)")
                    }
                }
            }
        }
    }

    /// A batch's runs in one call (decode rows, causal chunks longer than a row block, masked windows,
    /// one- and several-group KV layouts) give each run the bits of its own kernel call, on one thread
    /// or several: the cost split moves items between threads, never changes an output. Over an fp16
    /// cache the reference is ck_attn_f32 on the cache's widened values, whose bits ck_attn_f16kv has
    /// (HalfCacheKernelTests).
    func testBatchedRunsGiveEachRunsOwnBitsOnAnyThreadCount() {
        defer { Ops.setBLASThreads(1) }
        forEachTier { tier in
            var rng = SeededRNG(seed: 31)
            for format in KVFormat.allCases {
                for (heads, kvHeads, headDim) in [(9, 3, 64), (4, 2, 7), (3, 3, 16), (8, 1, 16)] {
                    // (prefix, rows, masked) per run; runs are laid out one after another in q/out rows and
                    // in separate caches of `slot` positions.
                    let shapes = [(130, 1, false), (0, 19, false), (37, 5, true), (511, 1, false), (3, 9, false), (64, 12, true), (1, 1, false)]
                    let slot = 600, width = heads * headDim, kvWidth = kvHeads * headDim
                    let rows = shapes.map { $0.1 }.reduce(0, +)
                    let q = rng.floats(rows * width, scale: 2)
                    let kf = rng.floats(shapes.count * slot * kvWidth, scale: 2), vf = rng.floats(shapes.count * slot * kvWidth)
                    let kCache = KVBuffer(format: format, count: kf.count), vCache = KVBuffer(format: format, count: vf.count)
                    kCache.store(kf, at: 0, count: kf.count)
                    vCache.store(vf, at: 0, count: vf.count)
                    let k = (0..<kf.count).map { kCache[$0] }, v = (0..<vf.count).map { vCache[$0] }
                    var masks: [[UInt8]?] = []
                    var expected = [Float](repeating: .nan, count: rows * width)
                    var row = 0
                    for (i, (prefix, n, masked)) in shapes.enumerated() {
                        var mask: [UInt8]? = nil
                        if masked {
                            var m = [UInt8](repeating: 0, count: n * n)
                            for r in 0..<n { for j in 0...r { m[r * n + j] = j == r || rng.next() % 2 == 0 ? 1 : 0 } }
                            mask = m
                        }
                        masks.append(mask)
                        let kv = i * slot * kvWidth
                        let one = run(ck_attn_f32, q: Array(q[(row * width)..<((row + n) * width)]), k: Array(k[kv..<(kv + (prefix + n) * kvWidth)]),
                                      v: Array(v[kv..<(kv + (prefix + n) * kvWidth)]), rows: n, prefix: prefix, new: n, mask: mask,
                                      heads: heads, kvHeads: kvHeads, headDim: headDim)
                        expected.replaceSubrange((row * width)..<((row + n) * width), with: one)
                        row += n
                    }
                    let maskPtrs = masks.map { m -> UnsafeMutablePointer<UInt8>? in
                        guard let m else { return nil }
                        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: m.count)
                        p.initialize(from: m, count: m.count)
                        return p
                    }
                    defer { maskPtrs.forEach { $0?.deallocate() } }
                    let plan = AttentionPlan(capacity: shapes.count)
                    row = 0
                    for (i, (prefix, n, _)) in shapes.enumerated() {
                        plan.append(row: row, rows: n, kvOffset: i * slot * kvWidth, prefix: prefix, new: n, mask: maskPtrs[i].map { UnsafePointer($0) })
                        row += n
                    }
                    let maxRun = shapes.map { $0.1 }.max()!, maxKeys = shapes.map { $0.0 + $0.1 }.max()!
                    for threads in [1, 2, 3, 5] {
                        for threaded in [false, true] where threaded || threads == 1 {
                            Ops.setBLASThreads(threads)
                            var out = [Float](repeating: .nan, count: rows * width)
                            var scratch = [Float](repeating: 0, count: Ops.attentionScratchFloats(rows: maxRun, heads: heads, kvHeads: kvHeads,
                                                                                                  keys: maxKeys, threaded: threaded))
                            Ops.attention(plan: plan, out: &out, outStride: width, q: q, qStride: width, k: kCache, v: vCache, kvStride: kvWidth,
                                          heads: heads, kvHeads: kvHeads, headDim: headDim, scale: 1 / Float(headDim).squareRoot(),
                                          scratch: &scratch, threaded: threaded)
                            XCTAssertEqual(out, expected, "\(tier), \(format) cache: \(threads) threads (threaded \(threaded)), heads \(heads)/\(kvHeads) d=\(headDim)")
                        }
                    }
                    Ops.setBLASThreads(1)
                }
            }
        }
    }
}
