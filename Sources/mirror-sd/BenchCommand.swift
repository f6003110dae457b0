import ArgumentParser
import Benchmark
import Engine
import Foundation
import Generation
import Profiler
import TensorCore
import Tokenizer

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Spec-Bench side by side: methods run interleaved prompt by prompt, with the chat template.",
        discussion: """
            Methods (--modes): ar[:THREADS] (plain decoding of the target), sd (serial speculative decoding), \
            mirror (Mirror-SD), mirror-ee (Mirror-SD whose draft waits for the early exit, as mirror!nobonus). \
            A method may set its own decoding knobs with the bench suffixes of the table below, in any order: \
            sd@small+lookup*3 is serial SD with the small draft behind lookup at γ=3, mirror^0 has no \
            early-exit candidates, mirror~2 two runner-up branches, mirror#18 the exit at layer 18, \
            mirror*8!adaptive an adaptive γ up to 8, mirror@small!raw the raw logit lens, mirror!nobudget no \
            branch budget. Knobs given as flags apply to every method, and a method's suffixes override them. \
            Speedup is computed as Spec-Bench does: the mean of per-prompt tokens/s (prefill \
            included) divided by the first method's. Greedy by default, and each method's output is checked \
            against the first's; with --temp > 0 every method samples with the same seed per prompt (--seed plus \
            the question id), and outputs differ by design (the sampling-law tests guard correctness). \
            Other processes' CPU use is sampled from /proc and runs during which it exceeded 0.15 cores are \
            counted as busy. Build with -c release.

            \(Knobs.helpText())
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var decoding: DecodingFlags
    @OptionGroup var draftType: DraftTypeOption
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var specBench: SpecBenchOptions
    @Option(help: "New tokens per prompt.") var maxTokens: Int = 128
    @Option(help: "Comma-separated methods, the first is the baseline: ar, ar:2 (two threads), sd, mirror, mirror-ee, each with suffixes (sd@DRAFT*GAMMA, mirror^K~R#L!raw, ar!lookup).")
    var modes: String = "ar,sd,mirror"
    @Option(help: "Write bench.md, bench.json and bench-speedup.svg into this folder.") var out: String?
    @Option(help: "Context size (default: the model's, at most 4096).") var ctx: Int?
    @Option(name: .customLong("target-type"), help: ArgumentHelp("Compute format of the target for every method: \(BackendKind.help).", valueName: "type"))
    var targetType: BackendKind = .f32

    static let defaultPerTask = 5

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        for m in try methods() { try Limits.threads(m.threads, flag: "'\(m.name)'") }
    }

    /// A method: a decoder specification and the threads of the target's products.
    struct Method {
        var name: String
        var threads = 1
        var spec: DecoderSpec
    }

    /// --modes as decoder specs: the knob flags, then each method's mode and suffixes through the table.
    func methods() throws -> [Method] {
        let base = try decoding.spec()
        return try modes.split(separator: ",").map { m in
            let cut = m.firstIndex { "@*^~#!".contains($0) } ?? m.endIndex
            let head = m[..<cut].split(separator: ":", omittingEmptySubsequences: false)
            var spec = base
            var mode = head.first.map(String.init) ?? ""
            guard mode == "mirror-ee" || DecodeMode(rawValue: mode) != nil else {
                throw ValidationError("unknown method '\(m)' in --modes (methods: ar, sd, mirror, mirror-ee, each with suffixes)")
            }
            do throws(KnobError) {
                if mode == "mirror-ee" {
                    mode = "mirror"
                    try Knobs.set("draft-bonus", .bool(false), in: &spec)
                }
                try Knobs.set("mode", .text(mode), in: &spec)
                try Knobs.parse(suffixes: m[cut...], into: &spec)
            } catch {
                let knob = Knobs[error.knob].map { k in k.suffixText.map { "\(k.name) (\($0))" } ?? k.name } ?? error.knob
                throw ValidationError("'\(m)' in --modes: \(knob) \(error.message)")
            }
            let threads = head.count > 1 ? Int(head[1]) ?? 0 : 1
            guard head.count <= 2, threads >= 1 else { throw ValidationError("bad thread count in '\(m)'") }
            return Method(name: String(m), threads: threads, spec: spec)
        }
    }

    func run() throws {
        let methods = try methods()
        var config = EngineConfiguration()
        config.modelPath = modelOptions.model
        config.targetType = targetType
        // Made for the most threads any method asks; each method then sets its own count.
        config.threads = methods.map(\.threads).max() ?? 1
        config.context = ctx
        config.draftType = draftType.draftType
        let engine = try Engine(config)
        let tok = engine.tokenizer
        let template = try ChatTemplate(template: tok.vocab.chatTemplate)
        // Each method's decoder once now: its draft loads, and its spec is checked against the model.
        var prepared: [String: PreparedDecoder] = [:]
        for m in methods {
            do { prepared[m.name] = try engine.decoder(m.spec) } catch let e as EngineError { throw ValidationError("'\(m.name)': \(e.description)") }
        }
        let samplingParams = try sampling.params()
        let selected = try specBench.select(perTask: Self.defaultPerTask)
        let sampled = String(format: "T=%g, top-k %d, top-p %g, min-p %g, seed %llu+question",
                             samplingParams.temperature, samplingParams.topK, samplingParams.topP, samplingParams.minP, samplingParams.seed)
        let how = samplingParams.isGreedy ? "greedy" : "sampled at " + sampled
        note("bench: \(selected.count) prompts × \(methods.count) methods, \(maxTokens) new tokens each, \(how), target \(targetType.rawValue), drafts \(draftType.draftType?.rawValue ?? "native/q8_0 (default)"); "
             + methods.map { m in prepared[m.name]!.draft.map { "\(m.name): draft \($0.choice), γ=\(prepared[m.name]!.speculative!.gamma)" } ?? m.name }.joined(separator: "; "))

        var results: [PromptResult] = []
        var monitor = CPULoadMonitor()
        let total = selected.count * methods.count
        var done = 0
        for q in selected {
            let prompt = specBenchPrompt(q.turns[0], tok, template)
            guard prompt.count + maxTokens + 8 < engine.context else { note("skipping question \(q.questionId): \(prompt.count) prompt tokens"); continue }
            var runs: [String: MethodRun] = [:]
            var params = samplingParams
            params.seed &+= UInt64(max(0, q.questionId))
            let options = GenerationOptions(maxTokens: maxTokens, sampling: params, stopAtEOS: false)
            for m in methods {
                Ops.setBLASThreads(m.threads)
                // Prepared per run (the target's exit lens and feature recorder follow the decoder), outside the timing.
                let decoder = try engine.decoder(m.spec).decoder
                _ = monitor.sample()
                let t0 = WallClock.now()
                let r = try decoder.decode(prompt: prompt, options: options) { _ in true }
                let tokens = r.tokens
                let perStep = r.stats.speculative?.tokensPerTargetStep ?? 1
                let mirrorStats = r.stats.mirror
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
        let draftTypes = Set(prepared.values.compactMap { $0.draft.map { $0.type?.rawValue ?? "lookup" } }).sorted()
        md += String(format: "\nTarget %@, model drafts %@, kernels %@; mean prompt %.0f tokens.\n", targetType.rawValue,
                     draftTypes.isEmpty ? "none" : draftTypes.joined(separator: "/"), Ops.implementation, meanPrompt)
        for m in methods {
            let runs = results.compactMap { $0.runs[m.name] }
            guard !runs.isEmpty, let p = prepared[m.name], let mo = p.mirror else { continue }
            let reuse = runs.compactMap(\.reuseRate).reduce(0, +) / Double(runs.count)
            let omega = runs.compactMap(\.omega).reduce(0, +) / Double(runs.count)
            let wait = runs.compactMap(\.targetWaitShare).reduce(0, +) / Double(runs.count)
            let law = runs.compactMap(\.lawRatio)
            md += String(format: "\n%@ (draft %@, γ=%d, κ=%d, ℓe=%d, exit lens %@, proxy vocabulary %@, own bonus branch %@): mean per-prompt reuse %.1f %%, Ω_κ %.1f %%, target waiting %.1f %% of its time, latency law predicted/measured %.3f (range %.3f–%.3f)\n",
                         m.name, p.draft!.choice.description, mo.gamma, mo.kappa, mo.exitLayer,
                         p.exitLens.map { ($0 as NSString).lastPathComponent } ?? "none", mo.proxyVocab.map(String.init) ?? "all", mo.draftBonus ? "on" : "off", reuse * 100, omega * 100, wait * 100,
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
