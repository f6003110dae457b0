import ArgumentParser
import Foundation
import GGUF
import Llama
import Profiler

struct ProfileKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile-kernels",
        abstract: "Measure this machine's peaks, then time every kernel on the model's shapes (reference and AVX2 twins).",
        discussion: "Weights are synthetic (only the shapes come from the model). Build with -c release.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Repetitions per kernel (median reported).") var reps: Int = 21
    @Flag(help: "Print JSON instead of a markdown table.") var json = false
    @Flag(help: "Shorter machine probes (256 MiB instead of 1 GiB).") var quick = false

    func run() throws {
        let c = try LlamaConfig(file: modelOptions.openFile())
        note("measuring the machine (DRAM 1/2 threads, L3, FMA peak, int8 peak)...")
        let peaks = MachinePeaks.measure(quick: quick)
        var bench = KernelBench(peaks: peaks, dim: c.dim, qkv: c.qDim + 2 * c.kvDim, ffn: c.ffnDim, vocab: c.vocabSize,
                                heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        bench.reps = max(3, reps)
        note("timing kernels...")
        let rows = bench.run()
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
