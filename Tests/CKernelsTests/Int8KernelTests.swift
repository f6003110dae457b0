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

    func testMatmulMatchesReferenceForOddShapesAndRowCounts() {
        forEachTier { _ in
            var rng = SeededRNG(seed: 33)
            for blocks in [1, 3, 7, 8, 9, 15, 16, 17, 18, 48] {
                let k = blocks * 32
                for (m, n) in [(1, 1), (1, 7), (2, 5), (3, 9), (8, 16), (32, 3)] {
                    var wq = (0..<(n * k)).map { _ in Int8(Int(rng.next() % 255) - 127) }
                    wq[0] = -127
                    wq[n * k - 1] = 127
                    let ws = rng.floats(n * blocks, scale: 0.01)
                    let x = rng.floats(m * k, scale: 2)
                    var xq = [Int8](repeating: 0, count: m * k), xs = [Float](repeating: 0, count: m * blocks)
                    for i in 0..<m {
                        xq.withUnsafeMutableBufferPointer { q in
                            xs.withUnsafeMutableBufferPointer { s in
                                ck_q8_quantize_row(q.baseAddress! + i * k, s.baseAddress! + i * blocks, Array(x[(i * k)..<(i * k + k)]), Int32(k))
                            }
                        }
                    }
                    var y1 = [Float](repeating: 0, count: m * n), y2 = y1
                    ck_q8_matmul_ref(&y1, Int32(n), xq, xs, wq, ws, Int32(m), Int32(n), Int32(k))
                    ck_q8_matmul(&y2, Int32(n), xq, xs, wq, ws, Int32(m), Int32(n), Int32(k))
                    var scale = [Float](repeating: 0, count: m * n)
                    for i in 0..<m { for r in 0..<n { for j in 0..<k {
                        scale[i * n + r] += abs(Float(wq[r * k + j]) * ws[r * blocks + j / 32] * Float(xq[i * k + j]) * xs[i * blocks + j / 32])
                    } } }
                    assertClose(y1, y2, rel: Tolerance.reorderedSum, scale: scale, "q8 matmul m=\(m) n=\(n) k=\(k)")
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
            let w = [Int8](repeating: 5, count: 64), ws: [Float] = [1, 1]
            var y: [Float] = [.nan]
            ck_q8_matmul(&y, 1, q, s, w, ws, 1, 1, 64)
            XCTAssertEqual(y, [0])
        }
    }

    /// A row's int8 products are bit-identical alone or among 2–16 rows.
    func testMatmulIsBatchInvariant() {
        forEachTier { tier in
            var rng = SeededRNG(seed: 35)
            for (n, blocks) in [(7, 18), (64, 48), (33, 5)] {
                let k = blocks * 32
                let wq = (0..<(n * k)).map { _ in Int8(Int(rng.next() % 255) - 127) }
                let ws = rng.floats(n * blocks, scale: 0.01)
                let xq = (0..<(16 * k)).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 256) - 128) }
                let xs = rng.floats(16 * blocks, scale: 0.02)
                var all = [Float](repeating: 0, count: 16 * n)
                ck_q8_matmul(&all, Int32(n), xq, xs, wq, ws, 16, Int32(n), Int32(k))
                for i in 0..<16 {
                    var one = [Float](repeating: 0, count: n)
                    ck_q8_matmul(&one, Int32(n), Array(xq[(i * k)..<((i + 1) * k)]), Array(xs[(i * blocks)..<((i + 1) * blocks)]),
                                 wq, ws, 1, Int32(n), Int32(k))
                    XCTAssertEqual(Array(all[(i * n)..<((i + 1) * n)]), one, "\(tier): row \(i) of 16, n=\(n) k=\(k)")
                }
            }
        }
    }
}
