import CKernels

/// The safe(ish) Swift face of CKernels: models call these, never the C functions. Pointers are the
/// caller's; sizes are passed explicitly so nothing allocates.
public enum Ops {
    /// Which kernel twin is active ("avx2" or "ref").
    public static var implementation: String { String(cString: ck_impl_name()) }
    public static func reinitializeDispatch() { ck_init() }

    public static func setBLASThreads(_ n: Int) { ck_blas_set_threads(Int32(n)) }
    public static var blasThreads: Int { Int(ck_blas_get_threads()) }
    public static var blasConfig: String { String(cString: ck_blas_config()) }

    /// y[m][n] = x[m][k] · W[n][k]ᵀ (fp32, OpenBLAS).
    @inline(__always)
    public static func matmul(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                              m: Int, n: Int, k: Int) {
        ck_matmul_f32(y, x, w, Int32(m), Int32(n), Int32(k))
    }

    @inline(__always)
    public static func rmsnorm(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               n: Int, eps: Float) {
        ck_rmsnorm_f32(out, x, weight, Int32(n), eps)
    }

    @inline(__always)
    public static func add(_ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, n: Int) {
        ck_vec_add_f32(out, a, b, Int32(n))
    }

    @inline(__always)
    public static func swiglu(_ out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, n: Int) {
        ck_swiglu_f32(out, gate, up, Int32(n))
    }

    @inline(__always)
    public static func softmax(_ x: UnsafeMutablePointer<Float>, n: Int) { ck_softmax_f32(x, Int32(n)) }

    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, n: Int) -> Float {
        ck_vec_dot_f32(a, b, Int32(n))
    }

    public static func ropeTable(cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>, headDim: Int,
                                 position: Int, base: Float) {
        ck_rope_table_f32(cos, sin, Int32(headDim), Int32(position), base)
    }

    @inline(__always)
    public static func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, cos: UnsafePointer<Float>,
                            sin: UnsafePointer<Float>) {
        ck_rope_f32(x, Int32(heads), Int32(headDim), cos, sin)
    }

    /// Attention for `rows` query rows over a KV cache: see ck_attn_f32 for the visibility rule.
    @inline(__always)
    public static func attention(out: UnsafeMutablePointer<Float>, outStride: Int, q: UnsafePointer<Float>, qStride: Int,
                                 k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int, rows: Int,
                                 prefix: Int, new: Int, mask: UnsafePointer<UInt8>?, heads: Int, kvHeads: Int,
                                 headDim: Int, scale: Float, scratch: UnsafeMutablePointer<Float>) {
        ck_attn_f32(out, Int32(outStride), q, Int32(qStride), k, v, Int32(kvStride), Int32(rows), Int32(prefix),
                    Int32(new), mask, Int32(heads), Int32(kvHeads), Int32(headDim), scale, scratch)
    }

    // MARK: threads

    /// Pins the calling thread to `cpu`; false when that CPU does not exist or pinning failed.
    @discardableResult
    public static func pinCurrentThread(to cpu: Int) -> Bool { ck_pin_current_thread(Int32(cpu)) == 0 }
    public static var onlineCPUs: Int { Int(ck_online_cpus()) }
    @inline(__always) public static func cpuRelax() { ck_cpu_relax() }

    // MARK: int8

    @inline(__always)
    public static func quantizeRows(_ qs: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>,
                                    _ x: UnsafePointer<Float>, rows: Int, k: Int) {
        for r in 0..<rows {
            ck_q8_quantize_row(qs + r * k, scales + r * (k / 32), x + r * k, Int32(k))
        }
    }

    @inline(__always)
    public static func q8Matmul(_ y: UnsafeMutablePointer<Float>, xq: UnsafePointer<Int8>, xScales: UnsafePointer<Float>,
                                wq: UnsafePointer<Int8>, wScales: UnsafePointer<Float>, m: Int, n: Int, k: Int) {
        ck_q8_matmul(y, xq, xScales, wq, wScales, Int32(m), Int32(n), Int32(k))
    }
}
