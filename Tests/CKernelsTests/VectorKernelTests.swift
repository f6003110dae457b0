import CKernels
import TestSupport
import XCTest

final class VectorKernelTests: XCTestCase {
    func testDispatchReportsAVX2OnThisMachineAndHonoursForceRef() {
        XCTAssertEqual(ck_cpu_has_avx2_fma(), 1, "the project's machines have AVX2+FMA")
        XCTAssertEqual(String(cString: ck_impl_name()), "avx2")
        setenv("CK_FORCE_REF", "1", 1)
        ck_init()
        XCTAssertEqual(String(cString: ck_impl_name()), "ref")
        unsetenv("CK_FORCE_REF")
        ck_init()
        XCTAssertEqual(String(cString: ck_impl_name()), "avx2")
    }

    func testDotAndGemvMatchReference() {
        var rng = SeededRNG(seed: 11)
        for n in oddSizes {
            let a = rng.floats(n), b = rng.floats(n)
            let ref = ck_vec_dot_f32_ref(a, b, Int32(n)), avx = ck_vec_dot_f32_avx2(a, b, Int32(n))
            let scale = zip(a, b).reduce(0) { $0 + abs($1.0 * $1.1) }
            XCTAssertLessThanOrEqual(abs(ref - avx), Tolerance.reorderedSum * scale + 1e-30, "dot n=\(n)")
            for rows in [1, 3, 4, 5, 9] {
                let w = rng.floats(rows * n)
                var y1 = [Float](repeating: 0, count: rows), y2 = y1
                ck_gemv_f32_ref(&y1, w, a, Int32(rows), Int32(n))
                ck_gemv_f32_avx2(&y2, w, a, Int32(rows), Int32(n))
                let scales = (0..<rows).map { r in (0..<n).reduce(Float(0)) { $0 + abs(w[r * n + $1] * a[$1]) } }
                assertClose(y1, y2, rel: Tolerance.reorderedSum, scale: scales, "gemv rows=\(rows) n=\(n)")
            }
        }
    }

    func testSmallGemmMatchesReference() {
        var rng = SeededRNG(seed: 17)
        for k in oddSizes.filter({ $0 <= 127 }) + [576] {
            for (m, n) in [(1, 1), (2, 3), (3, 5), (4, 2), (5, 7), (8, 9), (9, 4), (16, 1)] {
                let x = rng.floats(m * k), w = rng.floats(n * k)
                var y1 = [Float](repeating: 0, count: m * n), y2 = y1
                ck_gemm_f32_small_ref(&y1, x, w, Int32(m), Int32(n), Int32(k))
                ck_gemm_f32_small_avx2(&y2, x, w, Int32(m), Int32(n), Int32(k))
                var scale = [Float](repeating: 0, count: m * n)
                for i in 0..<m { for r in 0..<n { for j in 0..<k { scale[i * n + r] += abs(x[i * k + j] * w[r * k + j]) } } }
                assertClose(y1, y2, rel: Tolerance.reorderedSum, scale: scale, "small gemm m=\(m) n=\(n) k=\(k)")
            }
        }
    }

    func testMatmulUsesBLASForBatchesAndGemvForOneRow() {
        var rng = SeededRNG(seed: 12)
        ck_blas_set_threads(1)
        XCTAssertEqual(ck_blas_get_threads(), 1)
        for (m, n, k) in [(1, 7, 33), (1, 64, 576), (2, 5, 17), (5, 31, 64), (8, 65, 127), (17, 9, 33), (40, 3, 64)] {
            let x = rng.floats(m * k), w = rng.floats(n * k)
            var y = [Float](repeating: 0, count: m * n)
            ck_matmul_f32(&y, x, w, Int32(m), Int32(n), Int32(k))
            for i in 0..<m {
                for r in 0..<n {
                    let ref = ck_vec_dot_f32_ref(Array(x[(i * k)..<(i * k + k)]), Array(w[(r * k)..<(r * k + k)]), Int32(k))
                    let scale = (0..<k).reduce(Float(0)) { $0 + abs(x[i * k + $1] * w[r * k + $1]) }
                    XCTAssertLessThanOrEqual(abs(y[i * n + r] - ref), Tolerance.reorderedSum * scale, "m=\(m) n=\(n) k=\(k)")
                }
            }
        }
    }

    func testRMSNormMatchesReferenceIncludingLargeMagnitudes() {
        var rng = SeededRNG(seed: 13)
        for n in oddSizes {
            for magnitude: Float in [1, 1e-3, 1e15] {
                let x = rng.floats(n, scale: magnitude), w = rng.floats(n, scale: 2)
                var o1 = [Float](repeating: 0, count: n), o2 = o1
                ck_rmsnorm_f32_ref(&o1, x, w, Int32(n), 1e-5)
                ck_rmsnorm_f32_avx2(&o2, x, w, Int32(n), 1e-5)
                assertClose(o1, o2, rel: Tolerance.elementwise * 4, "rmsnorm n=\(n) magnitude=\(magnitude)")
                var inPlace = x
                ck_rmsnorm_f32_avx2(&inPlace, inPlace, w, Int32(n), 1e-5)
                XCTAssertEqual(inPlace, o2, "in place n=\(n)")
            }
        }
    }

    func testSoftmaxMatchesReferenceAndEdgeCases() {
        var rng = SeededRNG(seed: 14)
        for n in oddSizes {
            for spread: Float in [1, 30, 1e4] {
                let x = rng.floats(n, scale: spread)
                var a = x, b = x
                ck_softmax_f32_ref(&a, Int32(n))
                ck_softmax_f32_avx2(&b, Int32(n))
                assertClose(a, b, rel: 1e-5, scale: [Float](repeating: 1, count: n), "softmax n=\(n) spread=\(spread)")
                XCTAssertEqual(b.reduce(0, +), 1, accuracy: 1e-5)
            }
            var equal = [Float](repeating: 3.5, count: n)
            ck_softmax_f32_avx2(&equal, Int32(n))
            for v in equal { XCTAssertEqual(v, 1 / Float(n), accuracy: 1e-6, "all-equal n=\(n)") }
        }
    }

    func testSwiGLUAndAddMatchReference() {
        var rng = SeededRNG(seed: 15)
        for n in oddSizes {
            let g = rng.floats(n, scale: 20), u = rng.floats(n, scale: 3)
            var o1 = [Float](repeating: 0, count: n), o2 = o1
            ck_swiglu_f32_ref(&o1, g, u, Int32(n))
            ck_swiglu_f32_avx2(&o2, g, u, Int32(n))
            assertClose(o1, o2, rel: Tolerance.exp * 4, scale: zip(g, u).map { abs($0 * $1) + 1e-20 }, "swiglu n=\(n)")
            ck_vec_add_f32_ref(&o1, g, u, Int32(n))
            ck_vec_add_f32_avx2(&o2, g, u, Int32(n))
            XCTAssertEqual(o1, o2, "add n=\(n)")
        }
    }

    func testRoPEMatchesReferenceForEvenHeadSizes() {
        var rng = SeededRNG(seed: 16)
        for headDim in [2, 6, 8, 14, 16, 18, 64, 66, 128] {
            for pos in [0, 1, 17, 4095] {
                var cs = [Float](repeating: 0, count: headDim), sn = cs
                ck_rope_table_f32(&cs, &sn, Int32(headDim), Int32(pos), 10000)
                let x = rng.floats(3 * headDim)
                var a = x, b = x
                ck_rope_f32_ref(&a, 3, Int32(headDim), cs, sn)
                ck_rope_f32_avx2(&b, 3, Int32(headDim), cs, sn)
                assertClose(a, b, rel: Tolerance.elementwise, scale: [Float](repeating: 2, count: a.count), "rope d=\(headDim) pos=\(pos)")
                if pos == 0 { XCTAssertEqual(a, x, "position 0 is the identity") }
            }
        }
        // Adjacent pairs rotate together: (1, 0) at angle θ becomes (cos θ, sin θ).
        var cs = [Float](repeating: 0, count: 2), sn = cs
        ck_rope_table_f32(&cs, &sn, 2, 3, 10000)
        var v: [Float] = [1, 0]
        ck_rope_f32(&v, 1, 2, cs, sn)
        XCTAssertEqual(v[0], cos(3), accuracy: 1e-6)
        XCTAssertEqual(v[1], sin(3), accuracy: 1e-6)
    }
}
