import CKernels
import TensorCore
import TestSupport
import XCTest

final class VectorKernelTests: XCTestCase {
    func testDispatchPicksTheBestSupportedTierAndHonoursForce() {
        XCTAssertEqual(ck_cpu_has_avx2_fma(), 1, "the project's machines have AVX2+FMA")
        XCTAssertTrue(KernelTier.ref.isSupported)
        XCTAssertEqual(KernelTier.current, KernelTier.best)
        XCTAssertEqual(KernelTier.supported.last, KernelTier.best)
        print("kernel tiers here: \(KernelTier.supported.map(\.description)); best \(KernelTier.best): \(Ops.kernelImplementations)")
        defer { unsetenv("CK_FORCE"); unsetenv("CK_FORCE_REF"); ck_init() }
        for tier in KernelTier.supported {
            setenv("CK_FORCE", tier.description, 1)
            ck_init()
            XCTAssertEqual(KernelTier.current, tier)
            XCTAssertEqual(Ops.implementation, tier.description)
        }
        for tier in KernelTier.allCases where !tier.isSupported {
            XCTAssertNotNil(tier.unsupportedReason)
            XCTAssertFalse(tier.select(), "an unsupported tier is refused")
            setenv("CK_FORCE", tier.description, 1)
            ck_init()
            XCTAssertEqual(KernelTier.current, KernelTier.best, "an unsupported CK_FORCE falls back to the best tier")
        }
        setenv("CK_FORCE", "sse9", 1)
        ck_init()
        XCTAssertEqual(KernelTier.current, KernelTier.best, "an unknown CK_FORCE falls back to the best tier")
        unsetenv("CK_FORCE")
        setenv("CK_FORCE_REF", "1", 1)
        ck_init()
        XCTAssertEqual(Ops.implementation, "ref")
        for k in 0..<Int(CK_KERNEL_COUNT) { XCTAssertEqual(Ops.kernelImplementation(k), "ref") }
        XCTAssertEqual(KernelTier(name: "avx512"), .avx512)
        XCTAssertNil(KernelTier(name: "avx1024"))
    }

    func testDotMatchesReference() {
        forEachTier { _ in
            var rng = SeededRNG(seed: 11)
            for n in oddSizes {
                let a = rng.floats(n), b = rng.floats(n)
                let ref = ck_vec_dot_f32_ref(a, b, Int32(n)), got = ck_vec_dot_f32(a, b, Int32(n))
                let scale = zip(a, b).reduce(0) { $0 + abs($1.0 * $1.1) }
                XCTAssertLessThanOrEqual(abs(ref - got), Tolerance.reorderedSum * scale + 1e-30, "dot n=\(n)")
            }
        }
    }

    func testGemmMatchesReferenceForOddShapesAndStrides() {
        forEachTier { tier in
            var rng = SeededRNG(seed: 17)
            for k in oddSizes.filter({ $0 <= 127 }) + [576, 1023] {
                for (m, n) in [(1, 1), (1, 5), (2, 3), (3, 5), (4, 2), (5, 7), (7, 4), (8, 9), (9, 4), (13, 6), (16, 1), (16, 17)] {
                    let x = rng.floats(m * k), w = rng.floats(n * k)
                    let ldy = n + 3  // a strided output: the columns past n must stay untouched
                    var y1 = [Float](repeating: 0, count: m * ldy), y2 = [Float](repeating: -7, count: m * ldy)
                    ck_gemm_f32_ref(&y1, Int32(ldy), x, w, Int32(m), Int32(n), Int32(k))
                    ck_gemm_f32(&y2, Int32(ldy), x, w, Int32(m), Int32(n), Int32(k))
                    var scale = [Float](repeating: 1, count: m * ldy)
                    for i in 0..<m { for r in 0..<n { scale[i * ldy + r] = (0..<k).reduce(Float(0)) { $0 + abs(x[i * k + $1] * w[r * k + $1]) } } }
                    for i in 0..<m { for r in n..<ldy { XCTAssertEqual(y2[i * ldy + r], -7, "\(tier): gemm wrote past n") ; y2[i * ldy + r] = 0 } }
                    assertClose(y1, y2, rel: Tolerance.reorderedSum, scale: scale, "\(tier) gemm m=\(m) n=\(n) k=\(k)")
                }
            }
        }
    }

    /// A row's products are bit-identical alone, at any position among 2–16 rows, and on any number of
    /// fp32 threads: greedy speculative output then equals AR output by construction.
    func testGemmIsBatchAndThreadInvariant() {
        defer { ck_blas_set_threads(1) }
        forEachTier { tier in
            var rng = SeededRNG(seed: 18)
            for (n, k) in [(5, 33), (64, 576), (37, 1536), (9, 1023)] {
                let w = rng.floats(n * k, scale: 0.1), x = rng.floats(16 * k)
                var alone = [[Float]]()
                ck_blas_set_threads(1)
                for i in 0..<16 {
                    var y = [Float](repeating: 0, count: n)
                    ck_matmul_f32(&y, Array(x[(i * k)..<((i + 1) * k)]), w, 1, Int32(n), Int32(k))
                    alone.append(y)
                }
                for threads in [1, 2, 3] {
                    ck_blas_set_threads(Int32(threads))
                    for m in [2, 3, 4, 5, 8, 9, 16] {
                        let start = 16 - m
                        var y = [Float](repeating: 0, count: m * n)
                        ck_matmul_f32(&y, Array(x[(start * k)..<(16 * k)]), w, Int32(m), Int32(n), Int32(k))
                        for i in 0..<m {
                            XCTAssertEqual(Array(y[(i * n)..<((i + 1) * n)]), alone[start + i],
                                           "\(tier): row \(start + i) among \(m) rows on \(threads) thread(s), n=\(n) k=\(k)")
                        }
                    }
                }
            }
        }
    }

    /// The fp32 product is the batch-invariant kernel at every row count, prefill sizes included, on
    /// one thread or several: the threaded split gives the bits of the kernel called directly.
    func testMatmulIsTheBatchInvariantProductAtEveryRowCount() {
        var rng = SeededRNG(seed: 12)
        ck_blas_set_threads(1)
        XCTAssertEqual(ck_blas_get_threads(), 1)
        defer { ck_blas_set_threads(1) }
        for (m, n, k) in [(1, 7, 33), (1, 64, 576), (2, 5, 17), (5, 31, 64), (8, 65, 127), (16, 9, 33), (17, 9, 33), (40, 3, 64), (64, 37, 96)] {
            let x = rng.floats(m * k), w = rng.floats(n * k)
            var y = [Float](repeating: 0, count: m * n), g = y
            ck_gemm_f32(&g, Int32(n), x, w, Int32(m), Int32(n), Int32(k))
            for threads in [1, 2] {
                ck_blas_set_threads(Int32(threads))
                ck_matmul_f32(&y, x, w, Int32(m), Int32(n), Int32(k))
                XCTAssertEqual(y, g, "m=\(m), \(threads) thread(s): the batch-invariant product")
            }
            ck_blas_set_threads(1)
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
        forEachTier { _ in
            var rng = SeededRNG(seed: 13)
            for n in oddSizes {
                for magnitude: Float in [1, 1e-3, 1e15] {
                    let x = rng.floats(n, scale: magnitude), w = rng.floats(n, scale: 2)
                    var o1 = [Float](repeating: 0, count: n), o2 = o1
                    ck_rmsnorm_f32_ref(&o1, x, w, Int32(n), 1e-5)
                    ck_rmsnorm_f32(&o2, x, w, Int32(n), 1e-5)
                    assertClose(o1, o2, rel: Tolerance.elementwise * 4, "rmsnorm n=\(n) magnitude=\(magnitude)")
                    var inPlace = x
                    ck_rmsnorm_f32(&inPlace, inPlace, w, Int32(n), 1e-5)
                    XCTAssertEqual(inPlace, o2, "in place n=\(n)")
                }
            }
        }
    }

    func testSoftmaxMatchesReferenceAndEdgeCases() {
        forEachTier { _ in
            var rng = SeededRNG(seed: 14)
            for n in oddSizes {
                for spread: Float in [1, 30, 1e4] {
                    let x = rng.floats(n, scale: spread)
                    var a = x, b = x
                    ck_softmax_f32_ref(&a, Int32(n))
                    ck_softmax_f32(&b, Int32(n))
                    assertClose(a, b, rel: 1e-5, scale: [Float](repeating: 1, count: n), "softmax n=\(n) spread=\(spread)")
                    XCTAssertEqual(b.reduce(0, +), 1, accuracy: 1e-5)
                }
                var equal = [Float](repeating: 3.5, count: n)
                ck_softmax_f32(&equal, Int32(n))
                for v in equal { XCTAssertEqual(v, 1 / Float(n), accuracy: 1e-6, "all-equal n=\(n)") }
            }
        }
    }

    func testSwiGLUAndAddMatchReference() {
        forEachTier { _ in
            var rng = SeededRNG(seed: 15)
            for n in oddSizes {
                let g = rng.floats(n, scale: 20), u = rng.floats(n, scale: 3)
                var o1 = [Float](repeating: 0, count: n), o2 = o1
                ck_swiglu_f32_ref(&o1, g, u, Int32(n))
                ck_swiglu_f32(&o2, g, u, Int32(n))
                assertClose(o1, o2, rel: Tolerance.exp * 4, scale: zip(g, u).map { abs($0 * $1) + 1e-20 }, "swiglu n=\(n)")
                ck_vec_add_f32_ref(&o1, g, u, Int32(n))
                ck_vec_add_f32(&o2, g, u, Int32(n))
                XCTAssertEqual(o1, o2, "add n=\(n)")
            }
        }
    }

    func testRoPEMatchesReferenceForEvenHeadSizes() {
        forEachTier { _ in
            var rng = SeededRNG(seed: 16)
            for headDim in [2, 6, 8, 14, 16, 18, 64, 66, 128] {
                for pos in [0, 1, 17, 4095] {
                    var cs = [Float](repeating: 0, count: headDim), sn = cs
                    ck_rope_table_f32(&cs, &sn, Int32(headDim), Int32(pos), 10000)
                    let x = rng.floats(3 * headDim)
                    var a = x, b = x
                    ck_rope_f32_ref(&a, 3, Int32(headDim), cs, sn)
                    ck_rope_f32(&b, 3, Int32(headDim), cs, sn)
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
}
