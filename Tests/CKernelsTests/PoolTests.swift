import CKernels
import TensorCore
import TestSupport
import XCTest

/// The helper threads hand chunks over: each chunk runs once, the caller finishes a held thread's share,
/// and a product's bits never depend on which thread ran which chunk.
final class PoolTests: XCTestCase {
    func testEveryChunkRunsOnceAndTheCallerTakesOverAHeldHelpersShare() {
        defer { Ops.setBLASThreads(1) }
        for threads in [2, 3] {
            Ops.setBLASThreads(threads)
            for n in [1, 2, 3, 7, 16, 64, 1000] {
                var runs = [Int32](repeating: 0, count: n), partOf = [Int32](repeating: -1, count: n)
                let stolen = ck_pool_check(Int32(n), &runs, &partOf)
                XCTAssertGreaterThanOrEqual(stolen, 0, "\(threads) threads, \(n) chunks: a held helper waited forever")
                XCTAssertEqual(runs, [Int32](repeating: 1, count: n), "\(threads) threads, \(n) chunks")
                XCTAssertTrue(partOf.allSatisfy { $0 >= 0 && $0 < threads })
                if threads == 2 && n > 1 {
                    // The helper holds at most one chunk of its share; the caller runs the rest of it.
                    let helperShare = n - n / 2
                    XCTAssertLessThanOrEqual(partOf.filter { $0 == 1 }.count, 1, "\(n) chunks")
                    XCTAssertGreaterThanOrEqual(Int(stolen), helperShare - 1, "\(n) chunks")
                }
            }
        }
        var runs: [Int32] = [0], partOf: [Int32] = [0]
        XCTAssertEqual(ck_pool_check(0, &runs, &partOf), -1)
        XCTAssertEqual(ck_pool_check(4097, &runs, &partOf), -1)
    }

    /// 63 weight groups over 2 and 3 threads, many times (the hand-over differs from run to run): always the
    /// single-thread bits, on every tier.
    func testQuantizedProductKeepsItsBitsWhereverItsChunksRun() {
        defer { Ops.setBLASThreads(1) }
        forEachTier { tier in
            var rng = SeededRNG(seed: 77)
            let (n, k, m) = (1000, 576, 8)
            var w = [UInt8](repeating: 0, count: ck_q4x16_bytes(Int32(n), Int32(k)))
            var blocks = [UInt8](repeating: 0, count: n * k / 32 * 20)
            for b in 0..<(n * k / 32) {
                let d = ck_fp32_to_fp16(rng.float(0.02)), mn = ck_fp32_to_fp16(rng.float(0.1))
                (blocks[b * 20], blocks[b * 20 + 1], blocks[b * 20 + 2], blocks[b * 20 + 3]) =
                    (UInt8(d & 0xFF), UInt8(d >> 8), UInt8(mn & 0xFF), UInt8(mn >> 8))
                for j in 4..<20 { blocks[b * 20 + j] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            XCTAssertEqual(ck_q4x16_pack(&w, blocks, Int32(CK_Q4_1), Int32(n), Int32(k)), -1)
            let x = rng.floats(m * k, scale: 1)
            var q = [Int8](repeating: 0, count: m * k), s = [Float](repeating: 0, count: m * k / 32), sums = s
            for i in 0..<m {
                q.withUnsafeMutableBufferPointer { qb in
                    s.withUnsafeMutableBufferPointer { sb in
                        ck_q8_quantize_row(qb.baseAddress! + i * k, sb.baseAddress! + i * k / 32, Array(x[(i * k)..<((i + 1) * k)]), Int32(k))
                    }
                }
            }
            ck_q8_block_sums(&sums, q, s, Int32(m * k))
            var alone = [Float](repeating: 0, count: m * n)
            ck_matmul_q4(&alone, q, s, sums, w, Int32(m), Int32(n), Int32(k), 0)
            for threads in [2, 3] {
                Ops.setBLASThreads(threads)
                for run in 0..<25 {
                    var par = [Float](repeating: .nan, count: m * n)
                    ck_matmul_q4(&par, q, s, sums, w, Int32(m), Int32(n), Int32(k), 1)
                    XCTAssertEqual(par, alone, "\(tier): \(threads) threads, run \(run)")
                }
                Ops.setBLASThreads(1)
            }
        }
    }
}
