import ArgumentParser
import Benchmark
import Engine
import Foundation
import Generation
import TensorCore
import Tokenizer

struct BenchBatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-batch",
        abstract: "Continuous batching in process: aggregate decode speed of 1, 2, 4, ... sequences sharing each forward.",
        discussion: """
            For each --slots count S, S Spec-Bench prompts (chat template) decode --tokens greedy tokens each in one \
            BatchDecoder, as `serve --parallel S` runs them, without HTTP. Reports the aggregate tokens per second \
            (prefill included), the decode-only rate once every prompt is in, and the time of a decode step, against \
            one sequence alone. Build with -c release.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: [.customLong("type"), .customLong("target-type")], help: ArgumentHelp("Compute format: \(BackendKind.help).", valueName: "type"))
    var type: BackendKind = .native
    @Option(help: "Threads of the products.") var threads: Int = 1
    @Option(help: "Comma-separated sequence counts.") var slots: String = "1,2,4,8,16"
    @Option(help: "Tokens each sequence decodes.") var tokens: Int = 128
    @Option(help: "Spec-Bench question file.") var questions: String = "data/specbench/question.jsonl"

    var counts: [Int]? {
        let c = slots.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !c.isEmpty, c.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 64 }) else { return nil }
        return c.map { $0! }
    }

    func validate() throws {
        guard counts != nil else { throw ValidationError("--slots must be a comma-separated list of counts in 1...64") }
        guard tokens >= 1 else { throw ValidationError("--tokens must be at least 1") }
        try Limits.threads(threads)
    }

    func run() throws {
        let file = try modelOptions.openFile()
        let tok = try Tokenizer(file: file)
        let model = try Engine.loadModel(file, type: type, threads: threads)
        let template = try ChatTemplate(template: tok.vocab.chatTemplate)
        guard FileManager.default.fileExists(atPath: questions) else { throw CLIError("question file '\(questions)' not found") }
        let prompts = try SpecBench.load(questions).map { specBenchPrompt($0.turns[0], tok, template) }.filter { $0.count <= 512 }
        let context = (prompts.map(\.count).max() ?? 0) + tokens + 8
        let options = GenerationOptions(maxTokens: tokens, stopAtEOS: false)
        print("model \(modelOptions.model), \(type.rawValue), \(threads) thread(s), kernels \(Ops.implementation); \(tokens) tokens a sequence")
        print("")
        print("| sequences | aggregate tok/s (prefill included) | decode tok/s | ms per decode step | × one sequence's step | rows per forward |")
        print("|---|---|---|---|---|---|")
        var baseStep = 0.0
        for s in counts! {
            let b = BatchDecoder(model: model, tokenizer: tok, slots: s, context: context)
            var finished = 0
            for i in 0..<s {
                _ = try b.add(prompt: prompts[i % prompts.count], options: options, onText: { _ in true }, done: { _ in finished += 1 })
            }
            let t0 = WallClock.now()
            var stepSeconds: [Double] = []
            while !b.isIdle {
                let ts = WallClock.now()
                b.step()
                if b.lastPrefillRows == 0 { stepSeconds.append(WallClock.now() - ts) }
            }
            let total = WallClock.now() - t0
            let step = stepSeconds.sorted()[stepSeconds.count / 2]
            if s == counts!.first { baseStep = step }
            print(String(format: "| %d | %.1f | %.1f | %.2f | %.2f | %.1f |", s, Double(s * tokens) / total,
                         Double(s) / step, step * 1e3, step / baseStep, Double(b.rowsRun) / Double(b.stepCount)))
            precondition(finished == s)
        }
    }
}
