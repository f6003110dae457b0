import ArgumentParser
import Foundation
import GGUF
import Engine
import Profiler
import TensorCore

struct ProfileKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile-kernels",
        abstract: "Measure this machine's peaks, then time every kernel on the model's shapes under every kernel tier it supports.",
        discussion: "Weights are synthetic (only the shapes come from the model). Build with -c release.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Repetitions per kernel (median reported).") var reps: Int = 21
    @Flag(help: "Print JSON instead of a markdown table.") var json = false
    @Flag(help: "Shorter machine probes (256 MiB instead of 1 GiB).") var quick = false
    @Option(help: "Comma-separated kernel tiers to time (ref, avx2, avxvnni, avx512; default: every supported one).")
    var tiers: String?

    func selectedTiers() throws -> [KernelTier] {
        guard let list = tiers else { return KernelTier.supported }
        return try list.split(separator: ",").map { name in
            guard let t = KernelTier(name: String(name)) else {
                throw ValidationError("--tiers: '\(name)' is not a tier (ref, avx2, avxvnni, avx512)")
            }
            guard t.isSupported else { throw ValidationError("--tiers: \(t) cannot run here: \(t.unsupportedReason ?? "?")") }
            return t
        }
    }

    func run() throws {
        let chosen = try selectedTiers()
        let c = try ModelConfig(file: modelOptions.openFile())
        note("measuring the machine (DRAM 1/2 threads, L3, FMA peak, int8 peak)...")
        let peaks = MachinePeaks.measure(quick: quick)
        var bench = KernelBench(peaks: peaks, dim: c.dim, qkv: c.qDim + 2 * c.kvDim, ffn: c.ffnDim, vocab: c.vocabSize,
                                heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        bench.reps = max(3, reps)
        let skipped = KernelTier.allCases.filter { !$0.isSupported }.map { "\($0) (\($0.unsupportedReason ?? "?"))" }
        note("timing kernels on tiers \(chosen.map(\.description).joined(separator: ", "))"
             + (skipped.isEmpty ? "" : "; this machine cannot run \(skipped.joined(separator: ", "))") + "...")
        let rows = bench.run(tiers: chosen)
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            struct Out: Codable { var machine: MachinePeaks; var kernels: [KernelTiming] }
            print(String(decoding: try e.encode(Out(machine: peaks, kernels: rows)), as: UTF8.self))
        } else {
            print(KernelBench.markdown(rows, peaks: peaks))
        }
    }
}
