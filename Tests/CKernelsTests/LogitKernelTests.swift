import CKernels
import TensorCore
import TestSupport
import XCTest

/// The kernels that read a row of logits before sampling: argmax and the NaN/+inf check.
final class LogitKernelTests: XCTestCase {
    /// Every twin finds the scalar loop's first maximum: ties (the first wins), -inf, NaNs (never win;
    /// x[0] = NaN gives 0), the maximum at either end, over odd lengths and a vocabulary-sized row.
    func testArgmaxIsTheScalarLoopsFirstMaximumOnEveryTier() {
        forEachTier { tier in
            var rng = SeededRNG(seed: 53)
            for n in oddSizes + [49152] {
                var rows: [[Float]] = []
                let base = rng.floats(n, scale: 8)
                rows.append(base)
                var tie = base.map { ($0 * 2).rounded() / 2 }  // many equal values, so ties decide
                if n > 2 { tie[n - 1] = tie.max()! }
                rows.append(tie)
                var special = base
                for i in 0..<n where i % 5 == 1 { special[i] = -.infinity }
                for i in 0..<n where i % 7 == 3 { special[i] = .nan }
                rows.append(special)
                var first = base
                first[0] = 100
                rows.append(first)
                var last = base
                last[n - 1] = 100
                rows.append(last)
                var nanFirst = base
                nanFirst[0] = .nan
                rows.append(nanFirst)
                rows.append([Float](repeating: -.infinity, count: n))
                for (k, row) in rows.enumerated() {
                    XCTAssertEqual(ck_argmax_f32(row, Int32(n)), ck_argmax_f32_ref(row, Int32(n)), "\(tier): n=\(n), row \(k)")
                }
                // The scalar loop itself, as Sampler.argmax used to be written.
                var best = 0
                for i in 1..<n where base[i] > base[best] { best = i }
                XCTAssertEqual(Int(ck_argmax_f32_ref(base, Int32(n))), best)
            }
        }
    }

    func testTheLogitCheckFindsTheFirstNaNOrPositiveInfinityOnEveryTier() {
        forEachTier { tier in
            var rng = SeededRNG(seed: 59)
            for n in oddSizes + [49152] {
                var row = rng.floats(n, scale: 8)
                for i in 0..<n where i % 3 == 2 { row[i] = -.infinity }
                XCTAssertNil(Ops.firstNaNOrPositiveInfinity(row, count: n), "\(tier): n=\(n), -inf is allowed")
                for (at, bad) in [(n - 1, Float.nan), (n / 2, .infinity), (0, .nan), (n / 3, -Float.nan)] {
                    var r = row
                    r[at] = bad
                    if at + 1 < n { r[n - 1] = .infinity }  // a later one must not be reported first
                    XCTAssertEqual(Ops.firstNaNOrPositiveInfinity(r, count: n), at, "\(tier): n=\(n), \(bad) at \(at)")
                    XCTAssertEqual(ck_first_nan_or_posinf_ref(r, Int32(n)), Int32(at))
                }
            }
        }
    }
}
