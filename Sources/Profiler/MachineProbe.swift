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
    public var fmaGFlops1T: Double
    public var int8GMacs1T: Double

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

    public static func fmaPeak(iters: Int64 = 50_000_000) -> Double {
        var best = 0.0
        for _ in 0..<3 {
            let t0 = WallClock.now()
            _ = ck_probe_fma(iters)
            best = max(best, Double(iters) * 12 * 8 * 2 / (WallClock.now() - t0) / 1e9)
        }
        return best
    }

    public static func int8Peak(iters: Int64 = 50_000_000) -> Double {
        var best = 0.0
        for _ in 0..<3 {
            let t0 = WallClock.now()
            _ = ck_probe_int8(iters)
            best = max(best, Double(iters) * 8 * 32 / (WallClock.now() - t0) / 1e9)
        }
        return best
    }

    public static func measure(quick: Bool = false) -> MachinePeaks {
        let dram = quick ? 256 << 20 : 1 << 30
        return MachinePeaks(
            dramReadGBs1T: readBandwidth(bytes: dram, threads: 1).median,
            dramReadGBs2T: readBandwidth(bytes: dram, threads: 2).median,
            l3ReadGBs1T: readBandwidth(bytes: 8 << 20, threads: 1, samples: 31).median,
            fmaGFlops1T: fmaPeak(iters: quick ? 10_000_000 : 50_000_000),
            int8GMacs1T: int8Peak(iters: quick ? 10_000_000 : 50_000_000))
    }
}
