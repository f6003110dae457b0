import CKernels
import TensorCore
import TestSupport
import XCTest

/// The odd sizes every SIMD kernel is swept over (tails of 1–7, exact multiples, one past).
let oddSizes = [1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 1023]

/// Batch sizes the batch-invariance tests try, up to `limit`: every size to 17 (each tile shape and
/// its remainders), then a spread to the limit.
func batchSizes(upTo limit: Int) -> [Int] {
    (Array(1...17) + [24, 31, 32, 33, 48, 63, 64]).filter { $0 <= limit }
}

/// Named tolerances, relative to the magnitude of what is summed.
enum Tolerance {
    /// Reordered fp32 sums (dot, GEMV, int8 matmul after scaling): |diff| <= rel·Σ|terms|.
    static let reorderedSum: Float = 1e-5
    /// Polynomial exp vs libm expf: a few ulp.
    static let exp: Float = 1e-6
    /// Elementwise products and FMA contractions.
    static let elementwise: Float = 2e-6
}

func assertClose(_ a: [Float], _ b: [Float], rel: Float, scale: [Float]? = nil, _ msg: String,
                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, msg, file: file, line: line)
    for i in 0..<min(a.count, b.count) {
        let s = scale?[i] ?? max(abs(a[i]), abs(b[i]), 1e-30)
        if !(abs(a[i] - b[i]) <= rel * s + 1e-30) {
            XCTFail("\(msg): element \(i): \(a[i]) vs \(b[i]) (tolerance \(rel * s))", file: file, line: line)
            return
        }
    }
}

/// Runs `body` once under every SIMD tier this machine supports, so the dispatched names call that
/// tier's twins (tests compare them against the `_ref` twins). Tiers the machine lacks are printed
/// with the reason, never skipped silently. The best tier is restored afterwards.
func forEachTier(_ body: (KernelTier) throws -> Void) rethrows {
    for t in KernelTier.allCases where !t.isSupported {
        print("kernel tier \(t) not exercised here: \(t.unsupportedReason ?? "?")")
    }
    defer { KernelTier.best.select() }
    for t in KernelTier.supported where t != .ref {
        XCTAssertTrue(t.select())
        try body(t)
    }
}

/// ggml blocks of `type` for n rows × k: random nibbles, random scales (and mins for Q4_1).
func ggmlBlocks(_ type: Int32, rows n: Int, k: Int, rng: inout SeededRNG) -> [UInt8] {
    let bs = type == CK_Q4_0 ? 18 : 20
    var out = [UInt8](repeating: 0, count: n * k / 32 * bs)
    for b in 0..<(n * k / 32) {
        let d = ck_fp32_to_fp16(rng.float(0.02)), m = ck_fp32_to_fp16(rng.float(0.1))
        out[b * bs] = UInt8(d & 0xFF); out[b * bs + 1] = UInt8(d >> 8)
        if type == CK_Q4_1 { out[b * bs + 2] = UInt8(m & 0xFF); out[b * bs + 3] = UInt8(m >> 8) }
        for j in (bs - 16)..<bs { out[b * bs + j] = UInt8(truncatingIfNeeded: rng.next()) }
    }
    // The extremes of the nibble range in the first and last block.
    for j in (bs - 16)..<bs { out[j] = 0xF0 }
    for j in (out.count - 16)..<out.count { out[j] = 0x0F }
    return out
}

/// The x16 layout of ggml Q4 blocks (`ck_q4x16_pack` must accept them).
func repack(_ blocks: [UInt8], _ type: Int32, rows n: Int, k: Int) -> [UInt8] {
    var w = [UInt8](repeating: 0, count: ck_q4x16_bytes(Int32(n), Int32(k)))
    XCTAssertEqual(ck_q4x16_pack(&w, blocks, type, Int32(n), Int32(k)), -1)
    return w
}

/// Quantized activations for the Q4 product: int8 rows, their scales and block sums.
func activations(_ x: [Float], rows m: Int, k: Int) -> (q: [Int8], s: [Float], sums: [Float]) {
    var q = [Int8](repeating: 0, count: m * k), s = [Float](repeating: 0, count: m * k / 32), sums = s
    for i in 0..<m {
        q.withUnsafeMutableBufferPointer { qb in
            s.withUnsafeMutableBufferPointer { sb in
                ck_q8_quantize_row(qb.baseAddress! + i * k, sb.baseAddress! + i * k / 32, Array(x[(i * k)..<((i + 1) * k)]), Int32(k))
            }
        }
    }
    ck_q8_block_sums(&sums, q, s, Int32(m * k))
    return (q, s, sums)
}
