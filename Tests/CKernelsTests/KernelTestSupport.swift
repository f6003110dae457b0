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
