import CKernels
import TensorCore
import TestSupport
import XCTest

/// The fp16 KV cache's kernels: the row conversion that writes it and the attention that reads it.
final class HalfCacheKernelTests: XCTestCase {
    /// Every twin rounds as ck_fp32_to_fp16: normal values, halfway cases, fp16 subnormals, values that
    /// underflow to zero or overflow to infinity, signed zeros and infinities, over odd lengths.
    func testRowConversionRoundsAsTheScalarConverterOnEveryTier() {
        var rng = SeededRNG(seed: 41)
        var special: [Float] = [0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 1e6, .infinity, -.infinity,
                                6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, 1e-9, -3e-6, 1 + 1.0 / 2048, 1 + 3.0 / 2048]
        // Halfway between two fp16 values, both parities of the lower one.
        for m in [1024, 1025, 1500, 2046] { special.append(Float(2 * m + 1) / 2048) }
        forEachTier { tier in
            for n in oddSizes {
                var x = rng.floats(n, scale: 4)
                for i in 0..<n where i % 3 == 0 { x[i] = special[(i / 3) % special.count] * (i % 2 == 0 ? 1 : 1e-3) }
                var got = [UInt16](repeating: 0xFFFF, count: n)
                ck_f32_to_f16(&got, x, Int32(n))
                let want = x.map { ck_fp32_to_fp16($0) }
                XCTAssertEqual(got, want, "\(tier): n=\(n)")
            }
        }
    }

    /// Attention over an fp16 cache gives the bits of the fp32 kernel over the same values widened
    /// (the widening is exact, and then the operations are the same), on every tier, for odd key
    /// counts and head sizes, causal and masked.
    func testHalfCacheAttentionIsTheFloatKernelOnWidenedValues() {
        forEachTier { tier in
            var rng = SeededRNG(seed: 43)
            for keys in oddSizes {
                for (heads, kvHeads, headDim) in [(1, 1, 8), (4, 2, 7), (9, 3, 64), (2, 1, 17)] {
                    for (rows, masked) in [(1, false), (3, false), (3, true)] where rows <= keys {
                        let prefix = keys - rows, width = heads * headDim
                        let q = rng.floats(rows * width, scale: 2)
                        let k16 = rng.floats(keys * kvHeads * headDim, scale: 2).map { ck_fp32_to_fp16($0) }
                        let v16 = rng.floats(keys * kvHeads * headDim).map { ck_fp32_to_fp16($0) }
                        let k = k16.map { ck_fp16_to_fp32($0) }, v = v16.map { ck_fp16_to_fp32($0) }
                        let mask: [UInt8]? = masked ? [1, 0, 0, 1, 1, 0, 0, 1, 1] : nil
                        var scratch = [Float](repeating: 0, count: Int(ck_attn_scratch_floats(Int32(rows), Int32(heads), Int32(kvHeads), Int32(keys))))
                        for (f32, f16) in [(ck_attn_f32, ck_attn_f16kv), (ck_attn_f32_ref, ck_attn_f16kv_ref)] {
                            var want = [Float](repeating: .nan, count: rows * width), got = want
                            f32(&want, Int32(width), q, Int32(width), k, v, Int32(kvHeads * headDim), Int32(rows), Int32(prefix), Int32(rows),
                                mask, Int32(heads), Int32(kvHeads), Int32(headDim), 1 / Float(headDim).squareRoot(), &scratch)
                            f16(&got, Int32(width), q, Int32(width), k16, v16, Int32(kvHeads * headDim), Int32(rows), Int32(prefix), Int32(rows),
                                mask, Int32(heads), Int32(kvHeads), Int32(headDim), 1 / Float(headDim).squareRoot(), &scratch)
                            XCTAssertEqual(got, want, "\(tier): keys=\(keys) heads=\(heads)/\(kvHeads) d=\(headDim) rows=\(rows) mask \(masked)")
                        }
                    }
                }
            }
        }
    }

    /// The cache's `store` writes what the row converter writes, and reads back widened.
    func testTheCacheStoresWhatTheRowConverterWrites() {
        forEachTier { tier in
            var rng = SeededRNG(seed: 47)
            for n in oddSizes {
                let x = rng.floats(n, scale: 4)
                let cache = KVBuffer(format: .f16, count: n + 3)
                cache.store(x, at: 3, count: n)
                XCTAssertEqual((0..<n).map { cache[3 + $0] }, x.map { ck_fp16_to_fp32(ck_fp32_to_fp16($0)) }, "\(tier): n=\(n)")
            }
        }
    }
}
