import ArgumentParser
import Benchmark
import Foundation
import Generation
import GGUF
import Llama
import Profiler
import TensorCore
import Tokenizer

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Spec-Bench side by side: methods run interleaved prompt by prompt, greedy, with the chat template.",
        discussion: """
            Methods (--modes): ar[:THREADS] (plain decoding of the target), sd (serial speculative decoding), \
            mirror (Mirror-SD). Speedup is computed as Spec-Bench does: the mean of per-prompt tokens/s (prefill \
            included) divided by the first method's. Each method's output is checked against the first's. \
            Other processes' CPU use is sampled from /proc and runs during which it exceeded 0.15 cores are \
            counted as busy. Build with -c release.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var spec: SpeculativeFlags
    @OptionGroup var mirrorFlags: MirrorFlags
    @Option(name: .customLong("per-category"), help: "Prompts per Spec-Bench task (mt_bench counts as one task).") var perTask: Int = 5
    @Option(help: "Comma-separated tasks (mt_bench, translation, summarization, qa, math_reasoning, rag).")
    var categories: String = SpecBench.tasks.joined(separator: ",")
    @Option(help: "New tokens per prompt.") var maxTokens: Int = 128
    @Option(help: "Comma-separated methods, the first is the baseline: ar, ar:2 (two threads), sd, mirror.")
    var modes: String = "ar,sd,mirror"
    @Option(help: "Spec-Bench question file.") var questions: String = "data/specbench/question.jsonl"
    @Option(help: "Write bench.md, bench.json and bench-speedup.svg into this folder.") var out: String?
    @Option(help: "Context size.") var ctx: Int = 4096

    func validate() throws {
        guard perTask >= 1 else { throw ValidationError("--per-category must be at least 1") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        _ = try parsedModes()
        let tasks = categories.split(separator: ",").map(String.init)
        for t in tasks where !SpecBench.tasks.contains(t) {
            throw ValidationError("unknown task '\(t)' (tasks: \(SpecBench.tasks.joined(separator: ", ")))")
        }
    }

    func parsedModes() throws -> [(name: String, kind: DecodeMode, threads: Int)] {
        try modes.split(separator: ",").map { m in
            let parts = m.split(separator: ":")
            guard let kind = DecodeMode(rawValue: String(parts[0])) else { throw ValidationError("unknown method '\(m)' in --modes") }
            let threads = parts.count > 1 ? Int(parts[1]) ?? 0 : 1
            guard threads >= 1 else { throw ValidationError("bad thread count in '\(m)'") }
            return (String(m), kind, threads)
        }
    }

    func run() throws {
        let methods = try parsedModes()
        let file = try modelOptions.openFile()
        let tok = try Tokenizer(file: file)
        let template = try ChatTemplate(template: tok.vocab.chatTemplate)
        let model = try LlamaModel(file: file, backend: BackendKind.blas.make(threads: 1))
        let target = model.makeSession(maxContext: ctx, maxBatch: 64)
        let needsDraft = methods.contains { $0.kind != .ar }
        let draft = needsDraft ? try makeDraft(spec: spec, targetFile: file, targetPath: modelOptions.model, vocab: tok.vocab, context: ctx) : nil
        let specOptions = try spec.options()
        let mirrorOptions = try mirrorFlags.options(gamma: spec.gamma, layers: model.config.layers, draftPMin: specOptions.draftPMin)
        let options = GenerationOptions(maxTokens: maxTokens, sampling: .greedy, stopAtEOS: false)
        guard FileManager.default.fileExists(atPath: questions) else { throw CLIError("question file '\(questions)' not found") }
        let selected = SpecBench.select(try SpecBench.load(questions), perTask: perTask,
                                        tasks: categories.split(separator: ",").map(String.init))
        note("bench: \(selected.count) prompts × \(methods.count) methods (\(modes)), \(maxTokens) new tokens each, draft \(spec.draft ?? "target file")\(spec.lookup ? " + lookup" : "")")

        var results: [PromptResult] = []
        var monitor = CPULoadMonitor()
        let total = selected.count * methods.count
        var done = 0
        for q in selected {
            let prompt = tok.encode(template.render([.init(role: "user", content: q.turns[0])], useDefaultSystem: false), parseSpecial: true)
            guard prompt.count + maxTokens + 8 < ctx else { note("skipping question \(q.questionId): \(prompt.count) prompt tokens"); continue }
            var runs: [String: MethodRun] = [:]
            for m in methods {
                Ops.setBLASThreads(m.threads)
                _ = monitor.sample()
                let t0 = WallClock.now()
                var tokens: [Int32] = []
                var perStep = 1.0
                var mirrorStats: MirrorStats? = nil
                switch m.kind {
                case .ar:
                    tokens = try Generator(model: target, tokenizer: tok).generate(prompt: prompt, options: options).tokens
                case .sd:
                    let r = try SerialSpeculativeDecoder(target: target, draft: draft!, tokenizer: tok)
                        .generate(prompt: prompt, options: options, speculative: specOptions)
                    tokens = r.tokens
                    perStep = r.stats.tokensPerTargetStep
                case .mirror:
                    let r = try MirrorDecoder(target: target, draft: draft!, tokenizer: tok)
                        .generate(prompt: prompt, options: options, mirror: mirrorOptions)
                    tokens = r.tokens
                    perStep = r.stats.speculative.tokensPerTargetStep
                    mirrorStats = r.stats
                }
                var run = MethodRun(tokens: tokens, seconds: WallClock.now() - t0, tokensPerStep: perStep, foreignLoad: monitor.sample())
                run.reuseRate = mirrorStats?.reuseRate
                run.omega = mirrorStats?.omega
                runs[m.name] = run
                done += 1
                progress(done, total, "q\(q.questionId) \(q.task) \(m.name) \(String(format: "%.1f", run.tokensPerSecond)) tok/s")
            }
            Ops.setBLASThreads(1)
            results.append(PromptResult(questionId: q.questionId, task: q.task, promptTokens: prompt.count, runs: runs))
        }
        FileHandle.standardError.write("\n".data(using: .utf8)!)
        let report = BenchReport(methods: methods.map(\.name), maxTokens: maxTokens, prompts: results)
        var md = report.markdown()
        let mirrorRuns = results.compactMap { p in methods.first { $0.kind == .mirror }.flatMap { p.runs[$0.name] } }
        if !mirrorRuns.isEmpty {
            let reuse = mirrorRuns.compactMap(\.reuseRate).reduce(0, +) / Double(mirrorRuns.count)
            let omega = mirrorRuns.compactMap(\.omega).reduce(0, +) / Double(mirrorRuns.count)
            md += String(format: "\nMirror-SD (γ=%d, κ=%d, ℓe=%d, proxy vocabulary %@): mean per-prompt reuse %.1f %%, Ω_κ %.1f %%\n",
                         mirrorOptions.gamma, mirrorOptions.kappa, mirrorOptions.exitLayer,
                         mirrorOptions.proxyVocab.map(String.init) ?? "all", reuse * 100, omega * 100)
        }
        print(md)
        if let dir = out {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try md.write(toFile: dir + "/bench.md", atomically: true, encoding: .utf8)
            try report.json().write(to: URL(fileURLWithPath: dir + "/bench.json"))
            try report.svg().write(toFile: dir + "/bench-speedup.svg", atomically: true, encoding: .utf8)
            note("wrote \(dir)/bench.md, bench.json, bench-speedup.svg")
        }
    }

    func progress(_ done: Int, _ total: Int, _ what: String) {
        let width = 30
        let filled = total > 0 ? done * width / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write("\r[\(bar)] \(done)/\(total) \(what)        ".data(using: .utf8)!)
    }
}
