import CKernels
import TensorCore

/// One timed kernel: median and spread over repetitions after a warm-up, with the bytes and
/// operations it moves, so throughput can be set against the machine's peaks.
public struct KernelTiming: Sendable, Codable {
    public var kernel: String
    public var twin: String
    public var shape: String
    public var medianSeconds: Double
    public var spread: Double
    public var bytes: Double
    /// FLOPs (fp32) or int8 MACs (int8 kernels).
    public var ops: Double
    public var opUnit: String
    /// The compute peak of the instruction sequence this twin uses (a probe name, or "DRAM"/"L3" for
    /// kernels held to memory alone) and the fraction of it reached.
    public var peakName: String
    public var peakFraction: Double
    /// The shape's roofline: max(bytes / the bandwidth of where they live, ops / the compute peak), as
    /// a fraction of the measured time, and which side binds ("memory" or "compute").
    public var rooflineFraction: Double
    public var bound: String

    public var gbPerSecond: Double { bytes / medianSeconds / 1e9 }
    public var gOpsPerSecond: Double { ops / medianSeconds / 1e9 }
}

/// Times every kernel on a model's shapes, the twins of every supported tier side by side.
public struct KernelBench {
    public let peaks: MachinePeaks
    public let dim: Int, qkv: Int, ffn: Int, vocab: Int, heads: Int, kvHeads: Int, headDim: Int
    public var reps = 21

    public init(peaks: MachinePeaks, dim: Int, qkv: Int, ffn: Int, vocab: Int, heads: Int, kvHeads: Int, headDim: Int) {
        self.peaks = peaks
        self.dim = dim
        self.qkv = qkv
        self.ffn = ffn
        self.vocab = vocab
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
    }

    func time(_ body: () -> Void) -> Stats {
        body()
        var t: [Double] = []
        for _ in 0..<reps {
            let t0 = WallClock.now()
            body()
            t.append(WallClock.now() - t0)
        }
        return Stats(t)
    }

    /// `peak`: "int8" or "FMA" (held to the twin's own compute peak and the memory roofline), or
    /// "DRAM"/"L3" (memory alone).
    func row(_ kernel: String, _ twin: String, _ shape: String, _ s: Stats, bytes: Double, ops: Double, unit: String, peak: String) -> KernelTiming {
        let memory = memoryPeak(bytes) == "L3" ? peaks.l3ReadGBs1T : peaks.dramReadGBs1T
        let memorySeconds = memory > 0 ? bytes / (memory * 1e9) : 0
        var computeSeconds = 0.0, peakName = peak, fraction = 0.0
        switch peak {
        case "int8", "FMA":
            let isInt8 = peak == "int8"
            let value = isInt8 ? peaks.int8Peak(twin: twin) : peaks.fmaPeak(twin: twin)
            peakName = MachinePeaks.name(isInt8 ? MachinePeaks.int8Probe(twin: twin) : MachinePeaks.fmaProbe(twin: twin))
            computeSeconds = value > 0 ? ops / (value * 1e9) : 0
            fraction = value > 0 ? ops / s.median / 1e9 / value : 0
        default:
            let bw = peak == "L3" ? peaks.l3ReadGBs1T : peaks.dramReadGBs1T
            fraction = bw > 0 ? bytes / s.median / 1e9 / bw : 0
        }
        let roof = max(memorySeconds, computeSeconds)
        return KernelTiming(kernel: kernel, twin: twin, shape: shape, medianSeconds: s.median, spread: s.spread, bytes: bytes, ops: ops,
                            opUnit: unit, peakName: peakName, peakFraction: fraction, rooflineFraction: roof / s.median,
                            bound: computeSeconds > memorySeconds ? "compute" : "memory")
    }

    /// Weight streams that fit in the 32 MiB L3 (with room for neighbours) are held to the L3 peak.
    func memoryPeak(_ bytes: Double) -> String { bytes < 16e6 ? "L3" : "DRAM" }

    /// Every tier the CPU supports runs each kernel through the dispatched names; a row's `twin` is the
    /// implementation the tier chose (a tier may reuse a lower tier's twin). The reference tier skips
    /// the output head, which takes seconds there. The tier in force before the run is restored.
    public func run(tiers: [KernelTier] = KernelTier.supported) -> [KernelTiming] {
        Ops.setBLASThreads(1)  // explicit: OpenBLAS would otherwise use every core, with spin barriers
        let before = KernelTier.current
        defer { _ = before.select() }
        var out: [KernelTiming] = []
        var seed: UInt32 = 1
        func fill(_ b: FloatBuffer, _ scale: Float = 1) {
            for i in 0..<b.count { seed = seed &* 1_664_525 &+ 1_013_904_223; b[i] = (Float(seed >> 8) / Float(1 << 24) - 0.5) * scale }
        }
        // "dram": four heads' worth of rows, larger than any L3, so one row streams its weights from DRAM.
        let projections = [("qkv", qkv, dim), ("attn_out", dim, dim), ("gate_up", 2 * ffn, dim), ("ffn_down", dim, ffn), ("head", vocab, dim),
                           ("dram", 4 * vocab, dim)]
        let x = FloatBuffer(count: 16 * max(dim, ffn)), y = FloatBuffer(count: 16 * max(4 * vocab, 2 * ffn))
        let xqScratch = AlignedBuffer<Int8>(count: ffn), xsScratch = FloatBuffer(count: ffn / 32)
        fill(x)
        for (name, n, k) in projections {
            let w = FloatBuffer(count: n * k)
            fill(w, 0.1)
            let bytes = Double(n * k * 4), flops1 = Double(2 * n * k)
            let shape = "\(n)×\(k)"
            out.append(row("gemv f32 (OpenBLAS sgemv)", "blas", shape, time { ck_blas_sgemv(y.pointer, w.pointer, x.pointer, Int32(n), Int32(k)) },
                           bytes: bytes, ops: flops1, unit: "GFLOP/s", peak: memoryPeak(bytes)))
            out.append(row("gemm f32, 5 rows (OpenBLAS sgemm)", "blas", shape,
                           time { ck_blas_sgemm(y.pointer, x.pointer, w.pointer, 5, Int32(n), Int32(k)) },
                           bytes: bytes, ops: 5 * flops1, unit: "GFLOP/s", peak: "FMA"))
            // int8: the same matrix quantized, packed in the x16 layout.
            let wq = AlignedBuffer<Int8>(count: n * k), ws = FloatBuffer(count: n * k / 32)
            Ops.quantizeRows(wq.pointer, scales: ws.pointer, w.pointer, rows: n, k: k)
            let w8 = AlignedBuffer<UInt8>(count: ck_q8x16_bytes(Int32(n), Int32(k)))
            ck_q8x16_pack(w8.pointer, wq.pointer, ws.pointer, Int32(n), Int32(k))
            let xq = AlignedBuffer<Int8>(count: 16 * k), xs = FloatBuffer(count: 16 * k / 32)
            Ops.quantizeRows(xq.pointer, scales: xs.pointer, x.pointer, rows: 16, k: k)
            let xcorr = AlignedBuffer<Int32>(count: 16 * k / 32)
            Ops.blockCorrections(xcorr.pointer, qs: xq.pointer, rows: 16, k: k)
            let ib = Double(w8.bytes)
            // Q4_1: the same matrix in ggml's 4-bit format, packed for the Q4 product.
            var q4blocks = [UInt8](repeating: 0, count: n * k / 32 * 20)
            q4blocks.withUnsafeMutableBufferPointer { ck_quantize_q4_1($0.baseAddress!, w.pointer, n * k) }
            let w4 = AlignedBuffer<UInt8>(count: ck_q4x16_bytes(Int32(n), Int32(k)))
            _ = ck_q4x16_pack(w4.pointer, q4blocks, Int32(CK_Q4_1), Int32(n), Int32(k))
            let xsum = FloatBuffer(count: 16 * k / 32)
            Ops.blockSums(xsum.pointer, qs: xq.pointer, scales: xs.pointer, rows: 16, k: k)
            let q4b = Double(w4.bytes)
            for tier in tiers where tier != .ref || (name != "head" && name != "dram") {
                _ = tier.select()
                for rows in tier == .ref ? [1] : [1, 5, 8, 16] {
                    let label = rows == 1 ? "1 row" : "\(rows) rows"
                    out.append(row("gemm f32, \(label)", Ops.kernelImplementation(Int(CK_K_GEMM)), shape,
                                   time { ck_gemm_f32(y.pointer, Int32(n), x.pointer, w.pointer, Int32(rows), Int32(n), Int32(k)) },
                                   bytes: bytes, ops: Double(rows) * flops1, unit: "GFLOP/s", peak: rows == 1 ? memoryPeak(bytes) : "FMA"))
                    out.append(row("q8 matmul, \(label)", Ops.kernelImplementation(Int(CK_K_Q8_MATMUL)), shape,
                                   time { ck_q8_matmul(y.pointer, Int32(n), xq.pointer, xs.pointer, xcorr.pointer, w8.pointer, Int32(rows), Int32(n), Int32(k)) },
                                   bytes: ib, ops: Double(rows * n * k), unit: "G int8-MAC/s", peak: "int8"))
                    out.append(row("q4 matmul, \(label)", Ops.kernelImplementation(Int(CK_K_Q4_MATMUL)), shape,
                                   time { ck_q4_matmul(y.pointer, Int32(n), xq.pointer, xs.pointer, xsum.pointer, w4.pointer, Int32(rows), Int32(n), Int32(k)) },
                                   bytes: q4b, ops: Double(rows * n * k), unit: "G int8-MAC/s", peak: "int8"))
                }
            }
        }
        // Attention: 1 (decode) and 5 (verification) query rows over a cache of `ctx` positions, GQA heads.
        let kvDim = kvHeads * headDim
        for ctx in [128, 512, 2048] {
            let kc = FloatBuffer(count: ctx * kvDim), vc = FloatBuffer(count: ctx * kvDim), q = FloatBuffer(count: 5 * heads * headDim)
            let o = FloatBuffer(count: 5 * heads * headDim)
            let sc = FloatBuffer(count: ck_attn_scratch_floats(5, Int32(heads), Int32(kvHeads), Int32(ctx)))
            fill(kc); fill(vc); fill(q)
            // The same cache in fp16 (the server's default): half the bytes.
            let kh = AlignedBuffer<UInt16>(count: ctx * kvDim), vh = AlignedBuffer<UInt16>(count: ctx * kvDim)
            ck_f32_to_f16(kh.pointer, kc.pointer, Int32(ctx * kvDim))
            ck_f32_to_f16(vh.pointer, vc.pointer, Int32(ctx * kvDim))
            for tier in tiers {
                _ = tier.select()
                for rows in [1, 5] {
                    let flops = Double(4 * rows * heads * headDim * ctx)
                    let name = rows == 1 ? "attention, decode" : "attention, \(rows) rows"
                    let shape = "ctx \(ctx), \(heads)/\(kvHeads) heads × \(headDim)"
                    out.append(row(name, Ops.kernelImplementation(Int(CK_K_ATTN)), shape,
                                   time { ck_attn_f32(o.pointer, Int32(heads * headDim), q.pointer, Int32(heads * headDim), kc.pointer, vc.pointer,
                                                      Int32(kvDim), Int32(rows), Int32(ctx - rows), Int32(rows), nil, Int32(heads), Int32(kvHeads),
                                                      Int32(headDim), 0.125, sc.pointer) },
                                   bytes: Double(2 * ctx * kvDim * 4), ops: flops, unit: "GFLOP/s", peak: "FMA"))
                    out.append(row(name + ", fp16 cache", Ops.kernelImplementation(Int(CK_K_ATTN_F16KV)), shape,
                                   time { ck_attn_f16kv(o.pointer, Int32(heads * headDim), q.pointer, Int32(heads * headDim), kh.pointer, vh.pointer,
                                                        Int32(kvDim), Int32(rows), Int32(ctx - rows), Int32(rows), nil, Int32(heads), Int32(kvHeads),
                                                        Int32(headDim), 0.125, sc.pointer) },
                                   bytes: Double(2 * ctx * kvDim * 2), ops: flops, unit: "GFLOP/s", peak: "FMA"))
                }
            }
        }
        // Vector kernels.
        let a = FloatBuffer(count: max(vocab, ffn)), b = FloatBuffer(count: max(vocab, ffn)), c = FloatBuffer(count: max(vocab, ffn))
        fill(a); fill(b)
        let cs = FloatBuffer(count: headDim), sn = FloatBuffer(count: headDim)
        Ops.ropeTable(cos: cs.pointer, sin: sn.pointer, headDim: headDim, position: 17, base: 10000)
        for tier in tiers {
            _ = tier.select()
            out.append(row("rmsnorm", Ops.kernelImplementation(Int(CK_K_RMSNORM)), "\(dim)", time { ck_rmsnorm_f32(c.pointer, a.pointer, b.pointer, Int32(dim), 1e-5) },
                           bytes: Double(3 * dim * 4), ops: Double(4 * dim), unit: "GFLOP/s", peak: "FMA"))
            out.append(row("rope", Ops.kernelImplementation(Int(CK_K_ROPE)), "\(heads) heads × \(headDim)",
                           time { ck_rope_f32(c.pointer, Int32(heads), Int32(headDim), cs.pointer, sn.pointer) },
                           bytes: Double(2 * heads * headDim * 4), ops: Double(3 * heads * headDim), unit: "GFLOP/s", peak: "FMA"))
            out.append(row("softmax", Ops.kernelImplementation(Int(CK_K_SOFTMAX)), "\(vocab)",
                           time { c.pointer.update(from: a.pointer, count: vocab); ck_softmax_f32(c.pointer, Int32(vocab)) },
                           bytes: Double(3 * vocab * 4), ops: Double(10 * vocab), unit: "GFLOP/s", peak: "FMA"))
            out.append(row("swiglu", Ops.kernelImplementation(Int(CK_K_SWIGLU)), "\(ffn)", time { ck_swiglu_f32(c.pointer, a.pointer, b.pointer, Int32(ffn)) },
                           bytes: Double(3 * ffn * 4), ops: Double(12 * ffn), unit: "GFLOP/s", peak: "FMA"))
            out.append(row("q8 quantize", Ops.kernelImplementation(Int(CK_K_Q8_QUANTIZE)), "\(ffn)",
                           time { ck_q8_quantize_row(xqScratch.pointer, xsScratch.pointer, a.pointer, Int32(ffn)) },
                           bytes: Double(ffn * 5), ops: Double(3 * ffn), unit: "GFLOP/s", peak: "FMA"))
        }
        return out
    }

    public static func markdown(_ rows: [KernelTiming], peaks: MachinePeaks) -> String {
        var s = String(format: "machine: DRAM read %.1f GB/s (1 thread), %.1f GB/s (2 threads); L3 read %.1f GB/s\n",
                       peaks.dramReadGBs1T, peaks.dramReadGBs2T, peaks.l3ReadGBs1T)
        s += "peaks, 1 thread (G int8-MAC/s or GFLOP/s): " + peaks.probes.sorted { $0.key < $1.key }
            .map { String(format: "%@ %.1f", $0.key, $0.value) }.joined(separator: "; ") + "\n\n"
        s += "| kernel | twin | shape | median µs | spread | GB/s | throughput | of the twin's peak | of roofline (bound) |\n"
        s += "|---|---|---|---|---|---|---|---|---|\n"
        for r in rows {
            s += String(format: "| %@ | %@ | %@ | %.1f | %.0f %% | %.1f | %.1f %@ | %.0f %% %@ | %.0f %% (%@) |\n", r.kernel, r.twin, r.shape,
                        r.medianSeconds * 1e6, r.spread * 100, r.gbPerSecond, r.gOpsPerSecond, r.opUnit, r.peakFraction * 100, r.peakName,
                        r.rooflineFraction * 100, r.bound)
        }
        return s
    }
}
