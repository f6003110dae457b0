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
            let w = repack(ggmlBlocks(Int32(CK_Q4_1), rows: n, k: k, rng: &rng), Int32(CK_Q4_1), rows: n, k: k)
            let a = activations(rng.floats(m * k, scale: 1), rows: m, k: k)
            var alone = [Float](repeating: 0, count: m * n)
            ck_matmul_q4(&alone, a.q, a.s, a.sums, w, Int32(m), Int32(n), Int32(k), 0)
            for threads in [2, 3] {
                Ops.setBLASThreads(threads)
                for run in 0..<25 {
                    var par = [Float](repeating: .nan, count: m * n)
                    ck_matmul_q4(&par, a.q, a.s, a.sums, w, Int32(m), Int32(n), Int32(k), 1)
                    XCTAssertEqual(par, alone, "\(tier): \(threads) threads, run \(run)")
                }
                Ops.setBLASThreads(1)
            }
        }
    }
}
