import ArgumentParser
import Benchmark
import Engine
import Foundation
import Generation
import LanguageModels
import GGUF
import Llama
import Profiler
import TensorCore
import Tokenizer

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Spec-Bench side by side: methods run interleaved prompt by prompt, with the chat template.",
        discussion: """
            Methods (--modes): ar[:THREADS] (plain decoding of the target), sd (serial speculative decoding), \
            mirror (Mirror-SD), mirror-ee (Mirror-SD whose draft waits for the early exit instead of starting its own \
            bonus-guess branch with each window). A speculative method may name its own draft and window: sd@small+lookup*3 is serial \
            SD with the small draft behind lookup at γ=3 (without @ and * it uses --draft and --gamma), and \
            mirror*8a chooses each window's length in 1...8 (--adaptive-gamma); a mirror \
            method may end in ^K for its own κ (mirror^0: no early-exit candidates), then in ~R for its own \
            number of runner-up branches (mirror~2), then in #L for its own exit layer (mirror^2#18), in that order, and last in flags: !raw for the raw logit lens instead of --exit-lens \
            (mirror@small!raw beside mirror@small compares the trained lens with none), !nobudget for a draft that rolls every \
            branch until the verdict instead of only the steps its measured timings say end before it (--no-branch-budget). Speedup is computed as Spec-Bench does: the mean of per-prompt tokens/s (prefill \
            included) divided by the first method's. Greedy by default, and each method's output is checked \
            against the first's; with --temp > 0 every method samples with the same seed per prompt (--seed plus \
            the question id), and outputs differ by design (the sampling-law tests guard correctness). \
            Other processes' CPU use is sampled from /proc and runs during which it exceeded 0.15 cores are \
            counted as busy. Build with -c release.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var spec: SpeculativeFlags
    @OptionGroup var mirrorFlags: MirrorFlags
    @OptionGroup var sampling: SamplingOptions
    @Option(name: .customLong("per-category"), help: "Prompts per Spec-Bench task (mt_bench counts as one task).") var perTask: Int = 5
    @Option(help: "Comma-separated tasks (mt_bench, translation, summarization, qa, math_reasoning, rag).")
    var categories: String = SpecBench.tasks.joined(separator: ",")
    @Option(help: "New tokens per prompt.") var maxTokens: Int = 128
    @Option(help: "Comma-separated methods, the first is the baseline: ar, ar:2 (two threads), sd, mirror, mirror-ee, sd@DRAFT*GAMMA, mirror@DRAFT*GAMMA.")
    var modes: String = "ar,sd,mirror"
    @Option(help: "Spec-Bench question file.") var questions: String = "data/specbench/question.jsonl"
    @Option(help: "Write bench.md, bench.json and bench-speedup.svg into this folder.") var out: String?
    @Option(help: "Context size.") var ctx: Int = 4096
    @Option(name: .customLong("target-type"), help: ArgumentHelp("Compute format of the target for every method: \(BackendKind.help).", valueName: "type"))
    var targetType: BackendKind = .f32

    func validate() throws {
        guard perTask >= 1 else { throw ValidationError("--per-category must be at least 1") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        _ = try parsedModes()
        let tasks = categories.split(separator: ",").map(String.init)
        for t in tasks where !SpecBench.tasks.contains(t) {
            throw ValidationError("unknown task '\(t)' (tasks: \(SpecBench.tasks.joined(separator: ", ")))")
        }
    }

    struct Method {
        var name: String
        var kind: DecodeMode
        var threads = 1
        var draft: String?
        var gamma: Int?
        /// *Ga: the adaptive γ up to G.
        var adaptiveGamma = false
        /// mirror-ee: branches from the early exit only (no own bonus-guess branch).
        var draftBonus = true
        /// ^K: early-exit candidates per position for this method.
        var kappa: Int?
        /// ~R: runner-up branches for this method.
        var runnerUps: Int?
        /// #L: the exit layer for this method.
        var exitLayer: Int?
        /// !raw: the raw logit lens, whatever --exit-lens says.
        var rawLens = false
        /// !nobudget: every branch rolls until the verdict (no timing budget).
        var branchBudget = true
    }

    func parsedModes() throws -> [Method] {
        try modes.split(separator: ",").map { m in
            var rest = Substring(m)
            var method = Method(name: String(m), kind: .ar)
            while let bang = rest.lastIndex(of: "!") {
                switch rest[rest.index(after: bang)...] {
                case "raw": method.rawLens = true
                case "nobudget": method.branchBudget = false
                default: throw ValidationError("unknown flag '\(rest[bang...])' in '\(m)' (flags: !raw, !nobudget)")
                }
                rest = rest[..<bang]
            }
            if let hash = rest.lastIndex(of: "#") {
                guard let l = Int(rest[rest.index(after: hash)...]), l >= 1 else { throw ValidationError("bad exit layer in '\(m)'") }
                method.exitLayer = l
                rest = rest[..<hash]
            }
            if let tilde = rest.lastIndex(of: "~") {
                guard let r = Int(rest[rest.index(after: tilde)...]), r >= 0 else { throw ValidationError("bad runner-up count in '\(m)'") }
                method.runnerUps = r
                rest = rest[..<tilde]
            }
            if let caret = rest.lastIndex(of: "^") {
                guard let k = Int(rest[rest.index(after: caret)...]), k >= 0 else { throw ValidationError("bad κ in '\(m)'") }
                method.kappa = k
                rest = rest[..<caret]
            }
            if let star = rest.lastIndex(of: "*") {
                var value = rest[rest.index(after: star)...]
                if value.hasSuffix("a") { method.adaptiveGamma = true; value = value.dropLast() }
                guard let g = Int(value), g >= 1 else { throw ValidationError("bad γ in '\(m)'") }
                method.gamma = g
                rest = rest[..<star]
            }
            if let at = rest.firstIndex(of: "@") {
                method.draft = String(rest[rest.index(after: at)...])
                rest = rest[..<at]
            }
            let parts = rest.split(separator: ":")
            var head = parts.first.map(String.init) ?? ""
            if head == "mirror-ee" { head = "mirror"; method.draftBonus = false }
            guard let kind = DecodeMode(rawValue: head) else { throw ValidationError("unknown method '\(m)' in --modes") }
            method.kind = kind
            if kind == .ar, method.draft != nil || method.gamma != nil { throw ValidationError("'\(m)': ar takes no draft or γ") }
            method.threads = parts.count > 1 ? Int(parts[1]) ?? 0 : 1
            guard method.threads >= 1 else { throw ValidationError("bad thread count in '\(m)'") }
            return method
        }
    }

    func run() throws {
        let methods = try parsedModes()
        let file = try modelOptions.openFile()
        let tok = try Tokenizer(file: file)
        let template = try ChatTemplate(template: tok.vocab.chatTemplate)
        // Made for the most threads any method asks; each method then sets its own count.
        for m in methods { try Limits.threads(m.threads, flag: "'\(m.name)'") }
        let model = try LlamaModel(file: file, backend: targetType.make(threads: methods.map(\.threads).max() ?? 1))
        let ctx = try Limits.context(ctx, config: model.config, sessions: 2)
        let target = model.makeSession(maxContext: ctx, maxBatch: 64)
        // One draft instance per distinct draft name; one option set per method.
        var drafts: [String: Draft] = [:]
        var draftTypes: [String: String] = [:]
        var choices: [String: DraftChoice] = [:]
        var specOptions: [String: SpeculativeOptions] = [:]
        var mirrorOptions: [String: MirrorOptions] = [:]
        var lenses: [String: (lens: ExitLens, path: String)?] = [:]
        for m in methods where m.kind != .ar {
            let choice = m.draft != nil ? try DraftChoice(parsing: m.draft!, targetPath: modelOptions.model)
                                        : try spec.choice(for: m.kind, targetPath: modelOptions.model)
            choices[m.name] = choice
            if drafts[choice.description] == nil {
                let d = try makeDraft(choice, backend: spec.draftBackend, targetFile: file,
                                      targetPath: modelOptions.model, vocab: tok.vocab, context: ctx)
                drafts[choice.description] = d
                draftTypes[choice.description] = d.type?.rawValue ?? "lookup"
            }
            if m.kind == .mirror {
                do { _ = try drafts[choice.description]!.treeModel() } catch let e as EngineError { throw ValidationError("'\(m.name)': \(e.description)") }
            }
            var so = try spec.options(for: choice)
            if let g = m.gamma { so.gamma = g }
            specOptions[m.name] = so
            var mo = try mirrorFlags.options(gamma: so.gamma, layers: model.config.layers, draftPMin: so.draftPMin, draft: choice)
            if !m.draftBonus { mo.draftBonus = false }
            if let r = m.runnerUps {
                guard m.kind == .mirror, r <= mo.gamma + 1 else { throw ValidationError("'\(m.name)': ~R is for mirror methods, 0...γ+1") }
                mo.runnerUps = r
            }
            if let k = m.kappa {
                guard m.kind == .mirror, k <= 16 else { throw ValidationError("'\(m.name)': ^κ is for mirror methods, 0...16") }
                mo.kappa = k
            }
            if let l = m.exitLayer {
                guard m.kind == .mirror, l < model.config.layers else {
                    throw ValidationError("'\(m.name)': #L is for mirror methods, 1..<\(model.config.layers)")
                }
                mo.exitLayer = l
            }
            if !m.branchBudget {
                guard m.kind == .mirror else { throw ValidationError("'\(m.name)': !nobudget is for mirror methods") }
                mo.branchBudget = false
            }
            if m.adaptiveGamma {
                guard m.kind == .mirror else { throw ValidationError("'\(m.name)': *Ga (adaptive γ) is for mirror methods") }
                mo.adaptiveGamma = true
            }
            mirrorOptions[m.name] = mo
            if m.kind == .mirror {
                do {
                    lenses[m.name] = try Engine.exitLens(m.rawLens ? "none" : mirrorFlags.exitLens, layer: mo.exitLayer, model: model)
                } catch let e as EngineError { throw ValidationError("'\(m.name)': \(e.description)") }
            } else if m.rawLens {
                throw ValidationError("'\(m.name)': !raw is for mirror methods")
            }
        }
        let samplingParams = try sampling.params()
        guard FileManager.default.fileExists(atPath: questions) else { throw CLIError("question file '\(questions)' not found") }
        let selected = SpecBench.select(try SpecBench.load(questions), perTask: perTask,
                                        tasks: categories.split(separator: ",").map(String.init))
        let sampled = String(format: "T=%g, top-k %d, top-p %g, min-p %g, seed %llu+question",
                             samplingParams.temperature, samplingParams.topK, samplingParams.topP, samplingParams.minP, samplingParams.seed)
        let how = samplingParams.isGreedy ? "greedy" : "sampled at " + sampled
        note("bench: \(selected.count) prompts × \(methods.count) methods, \(maxTokens) new tokens each, \(how), target \(targetType.rawValue), drafts \(spec.draftBackend?.rawValue ?? "native/q8_0 (default)"); "
             + methods.map { m in choices[m.name].map { "\(m.name): draft \($0), γ=\(specOptions[m.name]!.gamma)" } ?? m.name }.joined(separator: "; "))

        var results: [PromptResult] = []
        var monitor = CPULoadMonitor()
        let total = selected.count * methods.count
        var done = 0
        for q in selected {
            let prompt = specBenchPrompt(q.turns[0], tok, template)
            guard prompt.count + maxTokens + 8 < ctx else { note("skipping question \(q.questionId): \(prompt.count) prompt tokens"); continue }
            var runs: [String: MethodRun] = [:]
            var params = samplingParams
            params.seed &+= UInt64(max(0, q.questionId))
            let options = GenerationOptions(maxTokens: maxTokens, sampling: params, stopAtEOS: false)
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
                    let d = drafts[choices[m.name]!.description]!
                    target.features = d.features
                    defer { target.features = nil }
                    let r = try SerialSpeculativeDecoder(target: target, draft: d.model, tokenizer: tok)
                        .generate(prompt: prompt, options: options, speculative: specOptions[m.name]!)
                    tokens = r.tokens
                    perStep = r.stats.tokensPerTargetStep
                case .mirror:
                    target.exitLens = lenses[m.name]??.lens
                    let r = try MirrorDecoder(target: target, draft: try drafts[choices[m.name]!.description]!.treeModel(), tokenizer: tok)
                        .generate(prompt: prompt, options: options, mirror: mirrorOptions[m.name]!)
                    tokens = r.tokens
                    perStep = r.stats.speculative.tokensPerTargetStep
                    mirrorStats = r.stats
                }
                var run = MethodRun(tokens: tokens, seconds: WallClock.now() - t0, tokensPerStep: perStep, foreignLoad: monitor.sample())
                run.reuseRate = mirrorStats?.reuseRate
                run.omega = mirrorStats?.omega
                run.roundsByAcceptance = mirrorStats?.roundsByAcceptance
                run.fallbacksByAcceptance = mirrorStats?.fallbacksByAcceptance
                run.reusesBySource = mirrorStats.map { ms in Dictionary(uniqueKeysWithValues: BranchSource.allCases.map { ($0.name, ms.reuses(from: $0)) }) }
                if let ms = mirrorStats {
                    let busy = ms.targetPrefixSeconds + ms.targetSuffixSeconds + ms.targetWaitSeconds
                    run.targetWaitShare = busy > 0 ? ms.targetWaitSeconds / busy : 0
                    run.lawRatio = ms.stepSeconds > 0 ? ms.predictedStepSeconds / ms.stepSeconds : nil
                    if ms.adaptiveWindows > 0 { run.adaptiveGammaMean = ms.meanAdaptiveGamma }
                }
                runs[m.name] = run
                done += 1
                progress(done, total, "q\(q.questionId) \(q.task) \(m.name) \(String(format: "%.1f", run.tokensPerSecond)) tok/s")
            }
            Ops.setBLASThreads(1)
            results.append(PromptResult(questionId: q.questionId, task: q.task, promptTokens: prompt.count, runs: runs))
        }
        FileHandle.standardError.write("\n".data(using: .utf8)!)
        let report = BenchReport(methods: methods.map(\.name), maxTokens: maxTokens, prompts: results,
                                 sampling: samplingParams.isGreedy ? nil : sampled)
        var md = report.markdown()
        let meanPrompt = results.isEmpty ? 0 : Double(results.map(\.promptTokens).reduce(0, +)) / Double(results.count)
        md += String(format: "\nTarget %@, model drafts %@, kernels %@; mean prompt %.0f tokens.\n", targetType.rawValue,
                     drafts.isEmpty ? "none" : Set(draftTypes.values).sorted().joined(separator: "/"), Ops.implementation, meanPrompt)
        for m in methods where m.kind == .mirror {
            let runs = results.compactMap { $0.runs[m.name] }
            guard !runs.isEmpty, let mo = mirrorOptions[m.name] else { continue }
            let reuse = runs.compactMap(\.reuseRate).reduce(0, +) / Double(runs.count)
            let omega = runs.compactMap(\.omega).reduce(0, +) / Double(runs.count)
            let wait = runs.compactMap(\.targetWaitShare).reduce(0, +) / Double(runs.count)
            let law = runs.compactMap(\.lawRatio)
            md += String(format: "\n%@ (draft %@, γ=%d, κ=%d, ℓe=%d, exit lens %@, proxy vocabulary %@, own bonus branch %@): mean per-prompt reuse %.1f %%, Ω_κ %.1f %%, target waiting %.1f %% of its time, latency law predicted/measured %.3f (range %.3f–%.3f)\n",
                         m.name, choices[m.name]!.description, mo.gamma, mo.kappa, mo.exitLayer,
                         (lenses[m.name]??.path).map { ($0 as NSString).lastPathComponent } ?? "none", mo.proxyVocab.map(String.init) ?? "all", mo.draftBonus ? "on" : "off", reuse * 100, omega * 100, wait * 100,
                         law.isEmpty ? 0 : law.reduce(0, +) / Double(law.count), law.min() ?? 0, law.max() ?? 0)
            if mo.runnerUps > 0 { md += "runner-up branches: \(mo.runnerUps) per round\n" }
            let adaptive = runs.compactMap(\.adaptiveGammaMean)
            if !adaptive.isEmpty {
                md += String(format: "adaptive γ (up to %d): mean window budget %.2f (per prompt %.2f–%.2f)\n", mo.gamma,
                             adaptive.reduce(0, +) / Double(adaptive.count), adaptive.min()!, adaptive.max()!)
            }
            if let table = report.acceptanceTable(m.name) { md += "\n" + table }
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
