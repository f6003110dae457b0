import ArgumentParser
import CKernels
import Engine
import Foundation
import Profiler
import TensorCore

struct BenchInt8Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-int8",
        abstract: "The int8 'NPU' kernels on one thread: GEMV throughput, the multi-row cost curve, SmolLM2 int8 decode.",
        discussion: "Build with -c release. The int8 dot peak of this machine is measured in the same run.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Repetitions per timing (median reported).") var reps: Int = 50
    @Option(help: "Tokens decoded for the SmolLM2 figure.") var tokens: Int = 64
    @Flag(help: "Skip the SmolLM2 decode figure.") var noModel = false

    func run() throws {
        note("measuring the int8 dot peak of the sequence the product uses...")
        let twin = Ops.kernelImplementation(Int(CK_K_Q8_MATMUL))
        let probe = MachinePeaks.int8Probe(twin: twin)
        let peak = MachinePeaks.probePeak(probe, iters: 20_000_000) ?? 0
        print("kernels: \(Ops.implementation) (q8 product: \(twin)); int8 dot peak (\(MachinePeaks.name(probe))): \(String(format: "%.1f", peak)) G int8-MAC/s")
        print("")
        print("| matrix (out × in) | weight bytes | rows | time (median) | G int8-MAC/s | of peak | weight GB/s | × one row |")
        print("|---|---|---|---|---|---|---|---|")
        for (n, k, label) in [(1536, 576, "L3-resident"), (8192, 8192, "DRAM-sized"), (49152, 576, "SmolLM2 head")] {
            let b = Int8MatmulBench(n: n, k: k)
            let base = b.time(rows: 1, reps: reps).median
            for rows in [1, 2, 4, 8, 16, 32] {
                let t = rows == 1 ? base : b.time(rows: rows, reps: max(3, reps / rows)).median
                let macs = Double(n * k * rows) / t / 1e9
                print(String(format: "| %d × %d (%@) | %.1f MB | %d | %.1f µs | %.1f | %.0f %% | %.1f | %.2f |", n, k, label,
                             Double(b.weightBytes) / 1e6, rows, t * 1e6, macs, macs / peak * 100,
                             Double(b.weightBytes) / t / 1e9, t / base))
            }
        }
        guard !noModel else { return }
        let model = try Engine.loadModel(modelOptions.openFile(), type: .q8_0)
        let session = model.makeSession(maxContext: tokens + 8, maxBatch: 4)
        let rates = try (0..<3).map { _ in try greedyDecodeRate(session, tokens: tokens) }
        let s = Stats(rates)
        print("")
        print(String(format: "SmolLM2 int8 decode, 1 thread: %.1f tok/s (median of 3 × %d tokens; %.1f–%.1f); %.1f MB of int8 weights per token",
                     s.median, tokens, s.min, s.max, Double(model.weightBytesPerToken) / 1e6))
    }
}
