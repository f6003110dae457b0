import ArgumentParser
import Engine
import Foundation
import Generation
import GGUF
import Profiler
import TensorCore

struct BenchDecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-decode",
        abstract: "Single-token decode speed and achieved weight bandwidth, next to the machine's measured DRAM bandwidth.",
        discussion: """
            Measures DRAM read bandwidth (1 and 2 threads) in the same run, then decodes --tokens tokens \
            greedily after a short prompt for each thread count, interleaved over --rounds rounds so drift \
            cancels. Foreign CPU load (other processes) is sampled from /proc and reported next to each number. \
            Build with -c release for meaningful numbers.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: [.customLong("type"), .customLong("backend")], help: ArgumentHelp("Compute format: \(BackendKind.help).", valueName: "type"))
    var backend: BackendKind = .f32
    @Option(help: "Comma-separated thread counts.") var threads: String = "1,2"
    @Option(help: "Tokens decoded per measurement.") var tokens: Int = 64
    @Option(help: "Interleaved rounds per thread count.") var rounds: Int = 3
    @Flag(help: "Skip the bandwidth probe.") var noProbe = false
    @Flag(help: "Also time the weight products alone (every matrix once, back to back) against the full forward.")
    var breakdown = false
    @Option(help: "Also time one forward of each of these batch sizes at each thread count (the verification cost curve, relative to the first), and where its time goes.")
    var verifyRows: String?
    @Option(help: "Context length the verification rows are appended to.")
    var verifyContext: Int = 512

    func validate() throws {
        guard tokens >= 1 else { throw ValidationError("--tokens must be at least 1") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard parsedThreads != nil else { throw ValidationError("--threads must be a comma-separated list of positive integers") }
    }

    var parsedThreads: [Int]? {
        let list = threads.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !list.isEmpty, list.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return list.map { $0! }
    }

    func run() throws {
        let file = try modelOptions.openFile()
        let counts = parsedThreads!
        for t in counts { try Limits.threads(t) }
        let t0 = WallClock.now()
        // Made for the most threads; each measurement then sets its own count (1 runs on the caller alone).
        let model = try Engine.loadModel(file, type: backend, threads: counts.max()!)
        note("loaded \(modelOptions.model) on \(backend.rawValue) in \(String(format: "%.2f", WallClock.now() - t0)) s; kernels: \(Ops.implementation)")
        let mbPerToken = Double(model.weightBytesPerToken) / 1e6

        var bw1 = 0.0, bw2 = 0.0
        if !noProbe {
            note("measuring DRAM read bandwidth (1 GiB, 1 and 2 threads)...")
            bw1 = MachinePeaks.readBandwidth(bytes: 1 << 30, threads: 1).median
            bw2 = MachinePeaks.readBandwidth(bytes: 1 << 30, threads: 2).median
        }
        let session = model.makeSession(maxContext: tokens + 16, maxBatch: 8)
        var results: [Int: [Double]] = [:]
        var load: [Int: [Double]] = [:]
        var monitor = CPULoadMonitor()
        for round in 0..<rounds {
            for n in counts {
                Ops.setBLASThreads(n)
                _ = monitor.sample()
                let tps = try greedyDecodeRate(session, tokens: tokens)
                results[n, default: []].append(tps)
                load[n, default: []].append(monitor.sample())
                note("round \(round + 1)/\(rounds), \(n) thread(s): \(String(format: "%.1f", tps)) tok/s")
            }
        }
        if breakdown { try printBreakdown(model) }
        if let v = verifyRows { try printVerifyCurve(model, rows: v.split(separator: ",").compactMap { Int($0) }, threads: counts) }
        print("model: \(modelOptions.model), backend \(backend.rawValue), kernels \(Ops.implementation)")
        print(String(format: "weights read per token: %.1f MB", mbPerToken))
        if !noProbe {
            print(String(format: "measured DRAM read bandwidth: 1 thread %.1f GB/s, 2 threads %.1f GB/s", bw1, bw2))
        }
        print("")
        print("| threads | decode tok/s (median) | min–max | achieved GB/s | of DRAM peak | foreign CPU load (cores) |")
        print("|---|---|---|---|---|---|")
        for n in counts {
            let s = Stats(results[n]!)
            let gbs = s.median * mbPerToken / 1e3
            let peak = n == 1 ? bw1 : bw2
            let frac = peak > 0 ? String(format: "%.0f %%", gbs / peak * 100) : "n/a"
            let l = load[n]!.max() ?? 0
            print(String(format: "| %d | %.1f | %.1f–%.1f | %.1f | %@ | %.2f%@ |", n, s.median, s.min, s.max, gbs, frac, l,
                         l > 0.15 ? " (busy)" : ""))
        }
    }
}

extension BenchDecodeCommand {
    /// Weight products alone vs the whole forward, one thread: what the non-matrix work costs.
    func printBreakdown(_ model: TargetModel) throws {
        Ops.setBLASThreads(1)
        let c = model.config
        let x = FloatBuffer(count: max(c.dim, c.ffnDim) * 2)
        let y = FloatBuffer(count: c.vocabSize + 2 * c.ffnDim)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { scratch.deallocate() }
        let matrices = model.layers.flatMap { [$0.wqkv, $0.wo, $0.w13, $0.w2] } + [model.output]
        var times: [Double] = []
        for _ in 0..<20 {
            let t0 = WallClock.now()
            for m in matrices { m.apply(x.pointer, rows: 1, into: y.pointer, scratch: scratch) }
            times.append(WallClock.now() - t0)
        }
        let head = Stats((0..<20).map { _ in
            let t0 = WallClock.now()
            model.output.apply(x.pointer, rows: 1, into: y.pointer, scratch: scratch)
            return WallClock.now() - t0
        })
        let s = Stats(times)
        let mb = Double(model.weightBytesPerToken) / 1e6
        print(String(format: "weight products alone: %.2f ms per token (%.1f GB/s); output head alone %.2f ms (%.1f GB/s)",
                     s.median * 1e3, mb / s.median / 1e3, head.median * 1e3,
                     Double(model.output.byteCount) / head.median / 1e9))
    }
}

extension BenchDecodeCommand {
    /// Time of one forward of n rows (all logits) appended at position `verifyContext`, relative to the
    /// first batch size (llama-bench -p 1,2,.. at depth), batch sizes interleaved over 9 rounds, for each
    /// thread count; then where one forward's time goes (three more forwards per size, timed per op).
    func printVerifyCurve(_ model: TargetModel, rows: [Int], threads counts: [Int]) throws {
        let rows = rows.filter { $0 >= 1 && $0 <= 64 }
        guard verifyContext >= 1, verifyContext + 64 <= model.config.contextLength else {
            throw ValidationError("--verify-context must be in 1...\(model.config.contextLength - 64)")
        }
        let session = model.makeSession(maxContext: verifyContext + 64, maxBatch: 64)
        try session.prefill([Int32](repeating: 100, count: verifyContext), at: 0)
        let tokens = rows.map { [Int32](repeating: 200, count: $0) }
        for t in counts {
            Ops.setBLASThreads(t)
            var times = [[Double]](repeating: [], count: rows.count)
            for _ in 0..<9 {
                for (i, batch) in tokens.enumerated() {
                    let t0 = WallClock.now()
                    _ = try session.forward(batch, at: verifyContext, allLogits: true)
                    times[i].append(WallClock.now() - t0)
                    session.truncate(to: verifyContext)
                }
            }
            var shares: [(products: Double, attention: Double, head: Double, other: Double)] = []
            for batch in tokens {
                let profile = OpProfile(layers: model.config.layers)
                session.opProfile = profile
                for _ in 0..<3 {
                    _ = try session.forward(batch, at: verifyContext, allLogits: true)
                    session.truncate(to: verifyContext)
                }
                session.opProfile = nil
                let op = { (o: OpProfile.Op) in profile.seconds(of: o) / 3 }
                let products = op(.qkv) + op(.attnOut) + op(.gateUp) + op(.ffnDown)
                let total = profile.totalSeconds / 3
                shares.append((products, op(.attention), profile.headSeconds / 3, total - products - op(.attention) - profile.headSeconds / 3))
            }
            print("verification at a \(verifyContext)-token context, \(t) thread(s), kernels \(Ops.implementation):")
            print("| rows | ms per forward (median of 9) | × \(rows.first ?? 1) row(s) | layer products ms | attention ms | head ms | other ms |")
            print("|---|---|---|---|---|---|---|")
            let base = times.first.map { Stats($0).median } ?? 1
            for (i, n) in rows.enumerated() {
                let med = Stats(times[i]).median, s = shares[i]
                print(String(format: "| %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |", n, med * 1e3, med / base,
                             s.products * 1e3, s.attention * 1e3, s.head * 1e3, s.other * 1e3))
            }
            print("")
        }
    }
}

/// Tokens a second of greedy decoding after a one-token prompt: the forwards and the argmax alone (no
/// sampler, no detokenizing), which is what a kernel or backend comparison wants to time.
func greedyDecodeRate(_ session: TargetSession, tokens: Int) throws -> Double {
    session.truncate(to: 0)
    var logits = try session.forward([1], at: 0)
    let start = WallClock.now()
    for i in 0..<tokens {
        let next = Sampler.argmax(logits, count: session.config.vocabSize)
        logits = try session.forward([next], at: i + 1)
    }
    return Double(tokens) / (WallClock.now() - start)
}
