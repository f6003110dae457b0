import CKernels
import TensorCore
import TestSupport
import XCTest

/// The 4-bit product (Q4_0 / Q4_1 weights × int8 activations), its repacking and ggml's quantizers.
final class Q4KernelTests: XCTestCase {
    /// Every tier gives the reference's bits; the reference is within a reordered sum of the
    /// dequantized weights times the dequantized activations.
    func testMatmulMatchesReferenceBitForBitForOddShapesAndRowCounts() {
        forEachTier { tier in
            var rng = SeededRNG(seed: 41)
            for type in [Int32(CK_Q4_0), Int32(CK_Q4_1)] {
                for blocks in [1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 18, 48] {
                    let k = blocks * 32
                    for (m, n) in [(1, 1), (1, 7), (2, 5), (3, 9), (5, 17), (8, 16), (16, 3), (17, 33), (32, 2)] {
                        let ggml = ggmlBlocks(type, rows: n, k: k, rng: &rng)
                        let w = repack(ggml, type, rows: n, k: k)
                        var wf = [Float](repeating: 0, count: n * k)
                        if type == CK_Q4_0 { ck_dequant_q4_0(&wf, ggml, n * k) } else { ck_dequant_q4_1(&wf, ggml, n * k) }
                        let a = activations(rng.floats(m * k, scale: 2), rows: m, k: k)
                        var y1 = [Float](repeating: 0, count: m * n), y2 = y1
                        ck_q4_matmul_ref(&y1, Int32(n), a.q, a.s, a.sums, w, Int32(m), Int32(n), Int32(k))
                        ck_q4_matmul(&y2, Int32(n), a.q, a.s, a.sums, w, Int32(m), Int32(n), Int32(k))
                        var exact = [Float](repeating: 0, count: m * n), scale = exact
                        for i in 0..<m { for r in 0..<n {
                            var e = 0.0, sc: Float = 0
                            for j in 0..<k {
                                let t = wf[r * k + j] * Float(a.q[i * k + j]) * a.s[i * blocks + j / 32]
                                e += Double(t); sc += abs(t)
                            }
                            exact[i * n + r] = Float(e); scale[i * n + r] = sc
                        } }
                        let label = "\(tier) q4_\(type) m=\(m) n=\(n) k=\(k)"
                        assertClose(y1, exact, rel: Tolerance.reorderedSum, scale: scale, "ref " + label)
                        XCTAssertEqual(y2, y1, label)
                    }
                }
            }
        }
    }

    func testPackedRowsReadBackAsTheDequantizedBlocks() {
        var rng = SeededRNG(seed: 42)
        for type in [Int32(CK_Q4_0), Int32(CK_Q4_1)] {
            for (n, blocks) in [(1, 1), (17, 3), (40, 18)] {
                let k = blocks * 32
                let ggml = ggmlBlocks(type, rows: n, k: k, rng: &rng)
                let w = repack(ggml, type, rows: n, k: k)
                var wf = [Float](repeating: 0, count: n * k)
                if type == CK_Q4_0 { ck_dequant_q4_0(&wf, ggml, n * k) } else { ck_dequant_q4_1(&wf, ggml, n * k) }
                for r in [0, n / 2, n - 1] {
                    var row = [Float](repeating: .nan, count: k)
                    ck_q4x16_row(&row, w, Int32(r), Int32(k))
                    // d·q + m against ggml's d·(q − 8) (Q4_0) or d·q + m (Q4_1): one rounding apart at most.
                    for j in 0..<k { XCTAssertEqual(row[j], wf[r * k + j], accuracy: abs(wf[r * k + j]) * 1e-6 + 1e-7, "q4_\(type) row \(r) j=\(j)") }
                }
            }
        }
    }

    /// A row's products are bit-identical whatever rows share the call (1…64), and for any thread count.
    func testMatmulIsBatchAndThreadInvariant() {
        defer { Ops.setBLASThreads(1) }
        forEachTier { tier in
            var rng = SeededRNG(seed: 43)
            for (n, blocks) in [(7, 18), (64, 48), (33, 5)] {
                let k = blocks * 32
                let w = repack(ggmlBlocks(Int32(CK_Q4_1), rows: n, k: k, rng: &rng), Int32(CK_Q4_1), rows: n, k: k)
                let a = activations(rng.floats(64 * k, scale: 1), rows: 64, k: k)
                var all = [Float](repeating: 0, count: 64 * n)
                ck_q4_matmul(&all, Int32(n), a.q, a.s, a.sums, w, 64, Int32(n), Int32(k))
                for start in [0, 5, 30, 63] {
                    for m in batchSizes(upTo: 64 - start) {
                        let rows = start..<(start + m), bl = (rows.lowerBound * blocks)..<(rows.upperBound * blocks)
                        var part = [Float](repeating: 0, count: m * n)
                        ck_q4_matmul(&part, Int32(n), Array(a.q[(rows.lowerBound * k)..<(rows.upperBound * k)]), Array(a.s[bl]),
                                     Array(a.sums[bl]), w, Int32(m), Int32(n), Int32(k))
                        XCTAssertEqual(part, Array(all[(rows.lowerBound * n)..<(rows.upperBound * n)]), "\(tier): rows \(rows) of 64, n=\(n) k=\(k)")
                    }
                }
                for threads in [2, 3] {
                    Ops.setBLASThreads(threads)
                    var par = [Float](repeating: 0, count: 64 * n)
                    ck_matmul_q4(&par, a.q, a.s, a.sums, w, 64, Int32(n), Int32(k), 1)
                    XCTAssertEqual(par, all, "\(tier): \(threads) threads, n=\(n) k=\(k)")
                    Ops.setBLASThreads(1)
                }
            }
        }
    }

    func testZeroActivationsGiveZeroNotNaN() {
        forEachTier { _ in
            var rng = SeededRNG(seed: 45)
            let w = repack(ggmlBlocks(Int32(CK_Q4_1), rows: 3, k: 64, rng: &rng), Int32(CK_Q4_1), rows: 3, k: 64)
            let a = activations([Float](repeating: 0, count: 64), rows: 1, k: 64)
            var y: [Float] = [.nan, .nan, .nan]
            ck_q4_matmul(&y, 3, a.q, a.s, a.sums, w, 1, 3, 64)
            XCTAssertEqual(y, [0, 0, 0])
        }
    }

    /// ggml's reference quantizers: every element within half a step of the original (Q4_0: one step
    /// where it clamps), all-zero blocks exactly zero.
    func testQuantizersRoundTripWithinHalfAStep() {
        var rng = SeededRNG(seed: 47)
        for n in [32, 64, 96, 32 * 17] {
            var x = rng.floats(n, scale: 3)
            x[5] = 0
            for j in 32..<min(64, n) { x[j] = 0 }  // an all-zero block
            var q0 = [UInt8](repeating: 0, count: n / 32 * 18), q1 = [UInt8](repeating: 0, count: n / 32 * 20)
            ck_quantize_q4_0(&q0, x, n)
            ck_quantize_q4_1(&q1, x, n)
            var y0 = [Float](repeating: 0, count: n), y1 = y0
            ck_dequant_q4_0(&y0, q0, n)
            ck_dequant_q4_1(&y1, q1, n)
            for b in 0..<(n / 32) {
                let blk = x[(b * 32)..<(b * 32 + 32)]
                let lo = blk.min()!, hi = blk.max()!, amax = blk.map(abs).max()!
                let step0 = amax / 8, step1 = (hi - lo) / 15
                for j in (b * 32)..<(b * 32 + 32) {
                    // fp16 scales add a relative error of 2^-11 per step.
                    // Q4_0 maps the signed max to −8, so the opposite extreme would need q = 16: values
                    // clamped to 15 may be off by up to one step, all others by half a step.
                    let clamped = abs(x[j]) > amax * 7.5 / 8
                    XCTAssertLessThanOrEqual(abs(y0[j] - x[j]), step0 * ((clamped ? 1 : 0.5) + 8 * 0.001) + 1e-6, "q4_0 n=\(n) j=\(j)")
                    XCTAssertLessThanOrEqual(abs(y1[j] - x[j]), step1 * (0.5 + 16 * 0.001) + abs(lo) * 0.001 + 1e-6, "q4_1 n=\(n) j=\(j)")
                }
                if amax == 0 { XCTAssertEqual(Array(y0[(b * 32)..<(b * 32 + 32)]), [Float](repeating: 0, count: 32)) }
            }
        }
    }

    func testRepackRefusesNonFiniteScales() {
        var rng = SeededRNG(seed: 49)
        for type in [Int32(CK_Q4_0), Int32(CK_Q4_1)] {
            var blocks = ggmlBlocks(type, rows: 2, k: 64, rng: &rng)
            let bs = type == CK_Q4_0 ? 18 : 20
            blocks[3 * bs] = 0x00; blocks[3 * bs + 1] = 0x7E  // fp16 NaN scale in row 1, block 1
            var w = [UInt8](repeating: 0, count: ck_q4x16_bytes(2, 64))
            XCTAssertEqual(ck_q4x16_pack(&w, blocks, type, 2, 64), 96)
        }
        // Q4_0's offset −8d overflows fp16 for a finite d above 8188.
        var big = ggmlBlocks(Int32(CK_Q4_0), rows: 1, k: 32, rng: &rng)
        let h = ck_fp32_to_fp16(10000); big[0] = UInt8(h & 0xFF); big[1] = UInt8(h >> 8)
        var w = [UInt8](repeating: 0, count: ck_q4x16_bytes(1, 32))
        XCTAssertEqual(ck_q4x16_pack(&w, big, Int32(CK_Q4_0), 1, 32), 0)
    }
}
