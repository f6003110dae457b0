import CKernels

/// The safe(ish) Swift face of CKernels: models call these, never the C functions. Pointers are the
/// caller's; sizes are passed explicitly so nothing allocates.
public enum Ops {
    /// The kernel tier in force ("ref", "avx2", "avxvnni", "avx512").
    public static var implementation: String { String(cString: ck_impl_name()) }
    /// Which twin the current tier calls for a kernel (CK_K_GEMM, …).
    public static func kernelImplementation(_ kernel: Int) -> String { String(cString: ck_kernel_impl(Int32(kernel))) }
    /// "kernel=twin" for every kernel of the current tier, for reports.
    public static var kernelImplementations: String {
        (0..<Int(CK_KERNEL_COUNT)).map { "\(String(cString: ck_kernel_name(Int32($0))))=\(kernelImplementation($0))" }
            .joined(separator: " ")
    }

    public static func setBLASThreads(_ n: Int) { ck_blas_set_threads(Int32(n)) }
    /// Chunks of the threaded products and attention that a thread took over from another one (descheduled or
    /// slower) since start: how often the hand-over saved a wait.
    public static var chunksMoved: Int { ck_pool_stolen_chunks() }

    /// y[m][n] = x[m][k] · W[n][k]ᵀ (fp32): up to 16 rows batch-invariant on the fp32 threads, more
    /// rows (prefill) through OpenBLAS.
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

    /// Scratch floats `attention` needs for `rows` query rows over `keys` keys (`threaded`: for
    /// `attention(plan:...)` over the helper threads).
    public static func attentionScratchFloats(rows: Int, heads: Int, kvHeads: Int, keys: Int, threaded: Bool = false) -> Int {
        threaded ? Int(ck_attn_threaded_scratch_floats(Int32(rows), Int32(heads), Int32(kvHeads), Int32(keys)))
            : Int(ck_attn_scratch_floats(Int32(rows), Int32(heads), Int32(kvHeads), Int32(keys)))
    }

    /// The first index of the maximum of `x[0..<count]` (count ≥ 1; NaNs never win): greedy sampling.
    @inline(__always)
    public static func argmax(_ x: UnsafePointer<Float>, count: Int) -> Int { Int(ck_argmax_f32(x, Int32(count))) }

    /// The first index in `x[0..<count]` holding NaN or +infinity (-infinity is allowed), or nil.
    @inline(__always)
    public static func firstNaNOrPositiveInfinity(_ x: UnsafePointer<Float>, count: Int) -> Int? {
        let i = Int(ck_first_nan_or_posinf(x, Int32(count)))
        return i < 0 ? nil : i
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

    /// y (m × n) = int8 weights (the Q8 x16 layout) · quantized activations with their −128·Σx block
    /// terms; on the helper threads when `threaded`.
    @inline(__always)
    public static func q8Matmul(_ y: UnsafeMutablePointer<Float>, xq: UnsafePointer<Int8>, xScales: UnsafePointer<Float>,
                                xCorr: UnsafePointer<Int32>, w: UnsafePointer<UInt8>, m: Int, n: Int, k: Int, threaded: Bool = false) {
        ck_matmul_q8(y, xq, xScales, xCorr, w, Int32(m), Int32(n), Int32(k), threaded ? 1 : 0)
    }

    /// Per-block −128·Σx of quantized activation rows (the activation side of the Q8 product).
    @inline(__always)
    public static func blockCorrections(_ corr: UnsafeMutablePointer<Int32>, qs: UnsafePointer<Int8>, rows: Int, k: Int) {
        for r in 0..<rows {
            ck_q8_block_corr(corr + r * (k / 32), qs + r * k, Int32(k))
        }
    }

    /// Per-block sums of quantized activation rows (the Q4 offset term's activation side).
    @inline(__always)
    public static func blockSums(_ sums: UnsafeMutablePointer<Float>, qs: UnsafePointer<Int8>, scales: UnsafePointer<Float>,
                                 rows: Int, k: Int) {
        for r in 0..<rows {
            ck_q8_block_sums(sums + r * (k / 32), qs + r * k, scales + r * (k / 32), Int32(k))
        }
    }

    /// y (m × n) = Q4 weights (the Q4 x16 layout) · quantized activations with their block sums.
    @inline(__always)
    public static func q4Matmul(_ y: UnsafeMutablePointer<Float>, xq: UnsafePointer<Int8>, xScales: UnsafePointer<Float>,
                                xSums: UnsafePointer<Float>, w: UnsafePointer<UInt8>, m: Int, n: Int, k: Int, threaded: Bool = false) {
        ck_matmul_q4(y, xq, xScales, xSums, w, Int32(m), Int32(n), Int32(k), threaded ? 1 : 0)
    }
}

/// An instruction-set tier of the kernels (CKernels.h). Selecting one is for start-up and tests: it
/// must not race kernel calls on other threads.
public enum KernelTier: Int32, CaseIterable, Sendable, CustomStringConvertible {
    case ref = 0, avx2, avxvnni, avx512

    public var description: String { String(cString: ck_tier_name(rawValue)) }
    public var isSupported: Bool { ck_tier_supported(rawValue) != 0 }
    /// Why this tier cannot run on this machine, or nil.
    public var unsupportedReason: String? { ck_tier_unsupported_reason(rawValue).map { String(cString: $0) } }
    public static var supported: [KernelTier] { allCases.filter(\.isSupported) }
    public static var current: KernelTier { KernelTier(rawValue: ck_tier()) ?? .ref }
    public static var best: KernelTier { KernelTier(rawValue: ck_best_tier()) ?? .ref }
    public init?(name: String) {
        let t = ck_tier_from_name(name)
        guard t >= 0, let tier = KernelTier(rawValue: t) else { return nil }
        self = tier
    }
    /// Makes this tier current; false (nothing changed) when it cannot run here.
    @discardableResult public func select() -> Bool { ck_set_tier(rawValue) == 0 }
}
