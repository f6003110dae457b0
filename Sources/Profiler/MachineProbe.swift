import CKernels
import Foundation
import TensorCore

public struct Stats: Sendable {
    public let median: Double
    public let min: Double
    public let max: Double
    public init(_ samples: [Double]) {
        let s = samples.sorted()
        median = s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
        min = s.first ?? 0
        max = s.last ?? 0
    }
    /// (max - min) / median, as a share.
    public var spread: Double { median > 0 ? (max - min) / median : 0 }
}

/// Runs `body(index)` on `threads` threads at once and returns when all are done.
public func runConcurrently(threads: Int, _ body: @escaping @Sendable (Int) -> Void) {
    if threads == 1 { body(0); return }
    let group = DispatchGroup()
    for t in 0..<threads {
        group.enter()
        let thread = Thread { body(t); group.leave() }
        thread.stackSize = 1 << 20
        thread.start()
    }
    group.wait()
}

/// The machine's ceilings, measured with short kernels of their own (REFERENCE.md §9 method).
public struct MachinePeaks: Sendable, Codable {
    public var dramReadGBs1T: Double
    public var dramReadGBs2T: Double
    public var l3ReadGBs1T: Double
    /// Best fp32 FMA and int8 rates on one thread, whatever the instruction (GFLOP/s, G int8-MAC/s).
    public var fmaGFlops1T: Double
    public var int8GMacs1T: Double
    /// Each instruction sequence's own peak on one thread, by probe name (ck_probe_name); sequences the
    /// CPU lacks are absent.
    public var probes: [String: Double]

    /// The probe of the int8 sequence a twin's products use (CKernels' twin names).
    public static func int8Probe(twin: String) -> Int32 {
        switch twin {
        case "avx512vnni": return Int32(CK_PROBE_VNNI_ZMM)
        case "avxvnni": return Int32(CK_PROBE_VNNI_VEX)
        default: return Int32(CK_PROBE_MADDUBS)
        }
    }

    /// The probe of the FMA width a twin uses.
    public static func fmaProbe(twin: String) -> Int32 { Int32(twin == "avx512" ? CK_PROBE_FMA_ZMM : CK_PROBE_FMA_YMM) }

    public static func name(_ probe: Int32) -> String { String(cString: ck_probe_name(probe)) }

    /// The int8 peak of the sequence a twin's products use.
    public func int8Peak(twin: String) -> Double { probes[Self.name(Self.int8Probe(twin: twin))] ?? int8GMacs1T }

    /// The FMA peak of the vector width a twin uses.
    public func fmaPeak(twin: String) -> Double { probes[Self.name(Self.fmaProbe(twin: twin))] ?? fmaGFlops1T }

    /// Measures read bandwidth over `bytes` bytes (1 GiB for DRAM, 8 MiB for L3), the median of
    /// `samples` sweeps per thread count.
    public static func readBandwidth(bytes: Int, threads: Int, samples: Int = 7) -> Stats {
        let n = bytes / 4
        let buf = FloatBuffer(count: n)
        for i in stride(from: 0, to: n, by: 1024) { buf[i] = 1 }  // touch every page
        let per = n / threads
        var times: [Double] = []
        for _ in 0..<samples {
            let t0 = WallClock.now()
            let base = UInt(bitPattern: buf.pointer)
            runConcurrently(threads: threads) { t in
                let p = UnsafePointer<Float>(bitPattern: base)! + t * per
                _ = ck_probe_read_f32(p, per)
            }
            times.append(Double(per * threads * 4) / (WallClock.now() - t0) / 1e9)
        }
        return Stats(times)
    }

    /// G ops/s of one probe (best of three), or nil where the CPU cannot run it.
    public static func probePeak(_ probe: Int32, iters: Int64 = 50_000_000) -> Double? {
        let perIter = ck_probe_ops_per_iter(probe)
        guard perIter > 0 else { return nil }
        var best = 0.0
        for _ in 0..<3 {
            let t0 = WallClock.now()
            _ = ck_probe_run(probe, iters)
            best = max(best, Double(iters) * perIter / (WallClock.now() - t0) / 1e9)
        }
        return best
    }

    public static func measure(quick: Bool = false) -> MachinePeaks {
        let dram = quick ? 256 << 20 : 1 << 30
        var probes: [String: Double] = [:]
        for p in 0..<Int32(CK_PROBE_COUNT) {
            if let v = probePeak(p, iters: quick ? 10_000_000 : 50_000_000) { probes[name(p)] = v }
        }
        let fma = [CK_PROBE_FMA_YMM, CK_PROBE_FMA_ZMM].compactMap { probes[name(Int32($0))] }.max() ?? 0
        let int8 = [CK_PROBE_MADDUBS, CK_PROBE_VNNI_VEX, CK_PROBE_VNNI_YMM, CK_PROBE_VNNI_ZMM].compactMap { probes[name(Int32($0))] }.max() ?? 0
        return MachinePeaks(
            dramReadGBs1T: readBandwidth(bytes: dram, threads: 1).median,
            dramReadGBs2T: readBandwidth(bytes: dram, threads: 2).median,
            l3ReadGBs1T: readBandwidth(bytes: 8 << 20, threads: 1, samples: 31).median,
            fmaGFlops1T: fma, int8GMacs1T: int8, probes: probes)
    }
}
