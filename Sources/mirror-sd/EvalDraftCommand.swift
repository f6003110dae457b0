import ArgumentParser
import Benchmark
import Engine
import Foundation
import Generation
import LanguageModels
import TensorCore
import Tokenizer

struct EvalDraftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-draft",
        abstract: "Draft quality on held-out Spec-Bench prompts: agreement with the target's greedy answers and tokens per target step.",
        discussion: """
            The target answers each prompt greedily (up to --max-tokens, stopping at end-of-sequence); every \
            draft then reads prompt and answer teacher-forced, and at each answer position its argmax is \
            compared with the target's token. Tokens per target step at γ follow from those matches exactly as \
            greedy serial SD would accept them. A feature draft (tools/draft/eagle.py) reads the target's hidden states and, \
            past the verified positions, its own guesses of them, so its matches do not decide its windows: \
            its top-1 is teacher-forced (real hidden states everywhere) and its tokens per target step are \
            measured by running greedy serial SD at each γ along the same answer. Drafts (--drafts, \
            comma-separated) are named as for generate --draft: small, large, self, a GGUF path, \
            lookup, or any model draft with +lookup. \
            Prompts are the first --per-category of each task in bench order: with 20 or fewer they are all \
            in the held-out split of tools/draft/split.json.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Comma-separated drafts: small, large, self, PATH, lookup, or a model draft with +lookup.") var drafts: String = "small,large,lookup,small+lookup,large+lookup"
    @OptionGroup var specBench: SpecBenchOptions
    @Option(help: "Longest target answer, in tokens.") var maxTokens: Int = 128
    @Option(help: "Comma-separated window sizes γ.") var gammas: String = "3,4,5,7"
    @Option(name: [.customLong("draft-type"), .customLong("draft-backend")], help: ArgumentHelp("Compute format of model drafts: \(BackendKind.help).", valueName: "type"))
    var draftBackend: BackendKind = .q8_0
    @Option(help: "Shortest lookup match used in front of a model draft.") var hybridMinN: Int = 2
    @Flag(help: "Also time one-token decoding of each model draft against the target (single thread each).")
    var timing = false
    @Option(help: "Write the results as JSON to this file.") var json: String?
    @Option(help: "Context size (default: the model's, at most 4096).") var ctx: Int?

    func parsedGammas() throws -> [Int] {
        let g = gammas.split(separator: ",").compactMap { Int($0) }
        guard !g.isEmpty, g.count == gammas.split(separator: ",").count, g.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--gammas must be positive integers separated by commas")
        }
        return g
    }

    func validate() throws {
        guard maxTokens >= 2 else { throw ValidationError("--max-tokens must be at least 2") }
        _ = try parsedGammas()
        guard !drafts.split(separator: ",").isEmpty else { throw ValidationError("--drafts is empty") }
        guard (1...8).contains(hybridMinN) else { throw ValidationError("--hybrid-min-n must be in 1...8") }
    }

    func run() throws {
        let gs = try parsedGammas()
        var config = EngineConfiguration()
        config.modelPath = modelOptions.model
        config.context = ctx
        config.draftType = draftBackend
        let engine = try Engine(config)
        let (tok, target, ctx) = (engine.tokenizer, engine.target, engine.context)
        let template = try ChatTemplate(template: tok.vocab.chatTemplate)
        let models = try drafts.split(separator: ",").map { name in
            let d = try engine.draft(String(name), hybridMinN: hybridMinN)
            return (name: d.choice.description, draft: d)
        }
        let selected = try specBench.select(perTask: 20)
        note("eval-draft: \(selected.count) prompts, answers of up to \(maxTokens) tokens, drafts: \(models.map(\.name).joined(separator: ", "))")

        var byTask: [[String: DraftAgreement]] = Array(repeating: [:], count: models.count)
        var all = Array(repeating: DraftAgreement(), count: models.count)
        let t0 = WallClock.now()
        for (i, q) in selected.enumerated() {
            let prompt = specBenchPrompt(q.turns[0], tok, template)
            guard prompt.count + maxTokens + 1 < ctx else { note("skipping question \(q.questionId): \(prompt.count) prompt tokens"); continue }
            let answer = try DraftEval.greedyPath(target: target, prompt: prompt, maxTokens: maxTokens, eos: tok.eosId)
            for (d, m) in models.enumerated() {
                let a = try agreement(m.draft, target: target, prompt: prompt, answer: answer, gammas: gs, tokenizer: tok)
                byTask[d][q.task, default: DraftAgreement()].merge(a)
                all[d].merge(a)
            }
            note(String(format: "[%d/%d] q%d %@: %d answer tokens; top-1 so far %@ (%.0f s)", i + 1, selected.count, q.questionId,
                        q.task, answer.count, all.map { String(format: "%.3f", $0.top1) }.joined(separator: " / "), WallClock.now() - t0))
        }

        let g4 = gs.contains(4) ? 4 : gs[0]
        print("Draft agreement with the target's greedy answers (teacher-forced; tokens per target step = accepted + 1)\n")
        print("| draft | task | positions | top-1 | " + gs.map { "tok/step γ=\($0)" }.joined(separator: " | ") + " |")
        print("|---|---|---|---|" + gs.map { _ in "---|" }.joined())
        var rows: [[String: Any]] = []
        for (d, m) in models.enumerated() {
            for task in SpecBench.tasks + ["ALL"] {
                guard let a = task == "ALL" ? all[d] : byTask[d][task] else { continue }
                print("| \(m.name) | \(task) | \(a.positions) | \(String(format: "%.3f", a.top1)) | "
                      + gs.map { String(format: "%.2f", a.tokensPerStep(gamma: $0)) }.joined(separator: " | ") + " |")
                var row: [String: Any] = ["draft": m.name, "task": task, "positions": a.positions, "top1": a.top1]
                for g in gs { row["tokens_per_step_gamma\(g)"] = a.tokensPerStep(gamma: g) }
                rows.append(row)
            }
        }
        print("\nbest at γ=\(g4): " + (models.indices.max { all[$0].tokensPerStep(gamma: g4) < all[$1].tokensPerStep(gamma: g4) }
            .map { "\(models[$0].name), \(String(format: "%.2f", all[$0].tokensPerStep(gamma: g4))) tokens per target step" } ?? "-"))

        var costs: [[String: Any]] = []
        let targetMACs = Double(engine.model.macsPerToken)
        for m in models {
            guard let macs = m.draft.macsPerToken, let session = m.draft.session else { continue }
            var c: [String: Any] = ["draft": m.name, "macs_per_token": macs, "macs_relative": Double(macs) / targetMACs]
            var line = String(format: "%@: %.1f M MAC/token (%.3f of the target's %.1f M)", m.name,
                              Double(macs) / 1e6, Double(macs) / targetMACs, targetMACs / 1e6)
            if timing {
                guard let lm = m.draft.singleRowInstance(maxContext: 1024) else { continue }
                let (td, tt) = (try decodeSeconds(lm), try decodeSeconds(target))
                c["ms_per_token"] = td * 1e3
                c["target_ms_per_token"] = tt * 1e3
                line += String(format: "; decode %.2f ms/token on %@ vs target %.2f ms (%.3f)", td * 1e3, session.model.backendName, tt * 1e3, td / tt)
            }
            print(line)
            costs.append(c)
        }
        if let json {
            let obj: [String: Any] = ["prompts": selected.count, "max_tokens": maxTokens, "gammas": gs, "rows": rows, "costs": costs]
            try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
            note("wrote \(json)")
        }
    }

    /// One draft's agreement along one answer. A feature draft's windows are measured with serial SD.
    private func agreement(_ d: Draft, target: TargetSession, prompt: [Int32], answer: [Int32], gammas: [Int],
                           tokenizer: Tokenizer) throws -> DraftAgreement {
        var a = DraftAgreement()
        guard let features = d.features else {
            a.add(try DraftEval.matches(draft: d.model, prompt: prompt, answer: answer), gammas: gammas)
            return a
        }
        target.features = features
        defer { target.features = nil; target.truncate(to: 0) }
        // Teacher-forced top-1: the target's hidden states at every position of prompt and answer.
        target.truncate(to: 0)
        try target.prefill(prompt + answer.dropLast(), at: 0)
        a.add(try DraftEval.matches(draft: d.model, prompt: prompt, answer: answer), gammas: [])
        let options = GenerationOptions(maxTokens: answer.count, sampling: .greedy, stopAtEOS: false)
        for g in gammas {
            let r = try SerialSpeculativeDecoder(target: target, draft: d.model, tokenizer: tokenizer)
                .generate(prompt: prompt, options: options, speculative: SpeculativeOptions(gamma: g))
            guard r.tokens == answer else {
                throw CLIError("serial SD with \(d.choice) at γ=\(g) did not reproduce the target's greedy answer; this is a bug")
            }
            a.addMeasured(gamma: g, steps: r.stats.rounds, tokens: answer.count - 1)
        }
        return a
    }

    /// Median seconds of a one-token forward at context ~256 (after a warm-up).
    private func decodeSeconds(_ s: any LanguageModel) throws -> Double {
        s.truncate(to: 0)
        let ids = (0..<256).map { Int32(200 + $0 % 5000) }
        if let p = s as? PrefillCapable { _ = try p.prefillChunked(ids) } else { _ = try s.forward(ids, at: 0) }
        var times: [Double] = []
        for i in 0..<48 {
            let t0 = WallClock.now()
            _ = try s.forward([Int32(300 + i)], at: s.kvLength)
            if i >= 8 { times.append(WallClock.now() - t0) }
        }
        s.truncate(to: 0)
        return times.sorted()[times.count / 2]
    }
}
