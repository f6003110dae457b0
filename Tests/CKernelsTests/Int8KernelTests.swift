import CKernels
import TensorCore
import TestSupport
import XCTest

final class Int8KernelTests: XCTestCase {
    func quantize(_ x: [Float], _ f: (UnsafeMutablePointer<Int8>?, UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, Int32) -> Void) -> ([Int8], [Float]) {
        var q = [Int8](repeating: 0, count: x.count), s = [Float](repeating: -1, count: x.count / 32)
        f(&q, &s, x, Int32(x.count))
        return (q, s)
    }

    func testQuantizeIsBitExactBetweenTwinsAndNeverGivesMinus128() {
        forEachTier { _ in
            var rng = SeededRNG(seed: 31)
            for blocks in oddSizes.filter({ $0 <= 127 }) {
                var x = rng.floats(blocks * 32, scale: 3)
                x[0] = -7  // a block whose largest magnitude is negative
                for j in 32..<min(64, x.count) { x[j] = 0 }  // an all-zero block
                let (q1, s1) = quantize(x, ck_q8_quantize_row_ref)
                let (q2, s2) = quantize(x, ck_q8_quantize_row)
                XCTAssertEqual(q1, q2, "blocks=\(blocks)")
                XCTAssertEqual(s1, s2, "blocks=\(blocks)")
                XCTAssertFalse(q1.contains(-128))
                XCTAssertTrue(s1.allSatisfy { $0.isFinite })
                if blocks > 1 { XCTAssertEqual(s1[1], 0); XCTAssertTrue(q1[32..<64].allSatisfy { $0 == 0 }) }
                XCTAssertEqual(q1[0], -127)
            }
        }
    }

    func testBlockDotsAreExactIncludingExtremes() {
        forEachTier { _ in
            var rng = SeededRNG(seed: 32)
            for blocks in oddSizes {
                var a = (0..<(blocks * 32)).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 256) - 128) }
                var b = (0..<(blocks * 32)).map { _ in Int8(Int(rng.next() % 255) - 127) }
                a[0] = -128; b[0] = -127; a[1] = 127; b[1] = 127; a[2] = -128; b[2] = 127
                var i1 = [Int32](repeating: 0, count: blocks), i2 = i1
                ck_q8_block_dots_ref(&i1, a, b, Int32(blocks))
                ck_q8_block_dots(&i2, a, b, Int32(blocks))
                XCTAssertEqual(i1, i2, "blocks=\(blocks)")
            }
            // All ±127 (the largest pair sums maddubs can see) and all -128 on the sign side.
            let full = [Int8](repeating: 127, count: 32), neg = [Int8](repeating: -128, count: 32)
            var r: [Int32] = [0]
            ck_q8_block_dots(&r, full, full, 1); XCTAssertEqual(r[0], 32 * 127 * 127)
            ck_q8_block_dots(&r, neg, full, 1); XCTAssertEqual(r[0], -32 * 128 * 127)
        }
    }

    /// Random int8 weights in [-127, 127] with both extremes, packed in the x16 layout.
    func packedWeights(rows n: Int, k: Int, rng: inout SeededRNG) -> (wq: [Int8], ws: [Float], packed: [UInt8]) {
        var wq = (0..<(n * k)).map { _ in Int8(Int(rng.next() % 255) - 127) }
        wq[0] = -127
        wq[n * k - 1] = 127
        let ws = rng.floats(n * k / 32, scale: 0.01)
        var packed = [UInt8](repeating: 0, count: ck_q8x16_bytes(Int32(n), Int32(k)))
        ck_q8x16_pack(&packed, wq, ws, Int32(n), Int32(k))
        return (wq, ws, packed)
    }

    func corrections(_ xq: [Int8], k: Int) -> [Int32] {
        var c = [Int32](repeating: 0, count: xq.count / 32)
        ck_q8_block_corr(&c, xq, Int32(xq.count))
        return c
    }

    /// Every tier gives the reference's bits (the same exact block dots, the same fma chain), and the
    /// reference is within a reordered sum of the exact product.
    func testMatmulMatchesReferenceBitForBitForOddShapesAndRowCounts() {
        forEachTier { tier in
            var rng = SeededRNG(seed: 33)
            for blocks in [1, 3, 7, 8, 9, 15, 16, 17, 18, 48] {
                let k = blocks * 32
                for (m, n) in [(1, 1), (1, 7), (2, 5), (3, 9), (5, 17), (8, 16), (17, 33), (32, 3)] {
                    let w = packedWeights(rows: n, k: k, rng: &rng)
                    var xq = (0..<(m * k)).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 256) - 128) }
                    xq[0] = -128
                    let xs = rng.floats(m * blocks, scale: 0.02)
                    let corr = corrections(xq, k: k)
                    var y1 = [Float](repeating: 0, count: m * n), y2 = y1
                    ck_q8_matmul_ref(&y1, Int32(n), xq, xs, corr, w.packed, Int32(m), Int32(n), Int32(k))
                    ck_q8_matmul(&y2, Int32(n), xq, xs, corr, w.packed, Int32(m), Int32(n), Int32(k))
                    XCTAssertEqual(y1, y2, "\(tier): q8 matmul m=\(m) n=\(n) k=\(k)")
                    var exact = [Float](repeating: 0, count: m * n), scale = exact
                    for i in 0..<m { for r in 0..<n {
                        var e = 0.0
                        for j in 0..<k {
                            let t = Float(w.wq[r * k + j]) * w.ws[r * blocks + j / 32] * Float(xq[i * k + j]) * xs[i * blocks + j / 32]
                            e += Double(t); scale[i * n + r] += abs(t)
                        }
                        exact[i * n + r] = Float(e)
                    } }
                    assertClose(y1, exact, rel: Tolerance.reorderedSum, scale: scale, "ref q8 matmul m=\(m) n=\(n) k=\(k)")
                }
            }
        }
    }

    func testZeroBlocksGiveZeroNotNaN() {
        forEachTier { _ in
            let x = [Float](repeating: 0, count: 64)
            var q = [Int8](repeating: 1, count: 64), s = [Float](repeating: 1, count: 2)
            ck_q8_quantize_row(&q, &s, x, 64)
            XCTAssertEqual(s, [0, 0])
            var w = [UInt8](repeating: 0, count: ck_q8x16_bytes(1, 64))
            ck_q8x16_pack(&w, [Int8](repeating: 5, count: 64), [1, 1], 1, 64)
            var y: [Float] = [.nan]
            ck_q8_matmul(&y, 1, q, s, corrections(q, k: 64), w, 1, 1, 64)
            XCTAssertEqual(y, [0])
        }
    }

    func testPackedRowsReadBackAsTheirValues() {
        var rng = SeededRNG(seed: 34)
        for (n, blocks) in [(1, 1), (17, 3), (40, 18)] {
            let k = blocks * 32
            let w = packedWeights(rows: n, k: k, rng: &rng)
            for r in [0, n / 2, n - 1] {
                var row = [Float](repeating: .nan, count: k)
                ck_q8x16_row(&row, w.packed, Int32(r), Int32(k))
                XCTAssertEqual(row, (0..<k).map { Float(w.wq[r * k + $0]) * w.ws[r * blocks + $0 / 32] }, "row \(r) of \(n), k=\(k)")
            }
        }
    }

    /// A row's int8 products are bit-identical whatever rows share the call (1…64), and for any
    /// thread count.
    func testMatmulIsBatchAndThreadInvariant() {
        defer { Ops.setBLASThreads(1) }
        forEachTier { tier in
            var rng = SeededRNG(seed: 35)
            for (n, blocks) in [(7, 18), (64, 48), (33, 5)] {
                let k = blocks * 32
                let w = packedWeights(rows: n, k: k, rng: &rng)
                let xq = (0..<(64 * k)).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 256) - 128) }
                let xs = rng.floats(64 * blocks, scale: 0.02)
                let corr = corrections(xq, k: k)
                var all = [Float](repeating: 0, count: 64 * n)
                ck_q8_matmul(&all, Int32(n), xq, xs, corr, w.packed, 64, Int32(n), Int32(k))
                for start in [0, 5, 30, 63] {
                    for m in batchSizes(upTo: 64 - start) {
                        let rows = start..<(start + m)
                        var part = [Float](repeating: 0, count: m * n)
                        ck_q8_matmul(&part, Int32(n), Array(xq[(rows.lowerBound * k)..<(rows.upperBound * k)]),
                                     Array(xs[(rows.lowerBound * blocks)..<(rows.upperBound * blocks)]),
                                     Array(corr[(rows.lowerBound * blocks)..<(rows.upperBound * blocks)]), w.packed, Int32(m), Int32(n), Int32(k))
                        XCTAssertEqual(part, Array(all[(rows.lowerBound * n)..<(rows.upperBound * n)]), "\(tier): rows \(rows) of 64, n=\(n) k=\(k)")
                    }
                }
                for threads in [2, 3] {
                    Ops.setBLASThreads(threads)
                    var par = [Float](repeating: 0, count: 64 * n)
                    ck_matmul_q8(&par, xq, xs, corr, w.packed, 64, Int32(n), Int32(k), 1)
                    XCTAssertEqual(par, all, "\(tier): q8 on \(threads) threads, n=\(n) k=\(k)")
                    Ops.setBLASThreads(1)
                }
            }
        }
    }
}
