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
            BatchDecoder, as `serve --parallel S` runs them, without HTTP, once for each --drafts choice (none: plain \
            batched decoding; lookup: prompt lookup under the goodput rule), side by side. Reports the aggregate tokens \
            per second (prefill included), the decode-only rate once every prompt is in, the time of a decode step \
            against one sequence's plain step, drafted rows per step and the share kept. Checks that every drafted \
            run gave the plain run's tokens, and compares each KV cache format's tokens with the fp32 cache's: the \
            sequences left identical, and the mean number of leading tokens shared. Build with -c release.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: [.customLong("type"), .customLong("target-type")], help: ArgumentHelp("Compute format: \(BackendKind.help).", valueName: "type"))
    var type: BackendKind = .native
    @Option(help: "Threads of the products.") var threads: Int = 1
    @Option(help: "Comma-separated sequence counts.") var slots: String = "1,2,4,8,16"
    @Option(help: "Tokens each sequence decodes.") var tokens: Int = 128
    @Option(help: "Spec-Bench question file.") var questions: String = "data/specbench/question.jsonl"
    @Option(help: "Comma-separated drafts to compare: none, lookup.") var drafts: String = "none,lookup"
    @Option(help: "Questions to skip first (another set of prompts).") var offset: Int = 0
    @Option(name: .customLong("kv-cache"), help: ArgumentHelp("Comma-separated KV cache formats to compare: f32, f16.", valueName: "formats"))
    var kvCache: String = "f32,f16"
    @Flag(help: "Also print where a decode step's time goes, by op, for each sequence count (plain batching).") var ops = false

    var draftList: [BatchDraft?]? {
        var out: [BatchDraft?] = []
        for d in drafts.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if d == "none" { out.append(nil) } else if let b = BatchDraft(rawValue: d) { out.append(b) } else { return nil }
        }
        return out.isEmpty ? nil : out
    }

    var kvList: [KVFormat]? {
        let f = kvCache.split(separator: ",").map { KVFormat(rawValue: $0.trimmingCharacters(in: .whitespaces)) }
        return f.isEmpty || f.contains(nil) ? nil : f.map { $0! }
    }

    var counts: [Int]? {
        let c = slots.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !c.isEmpty, c.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 64 }) else { return nil }
        return c.map { $0! }
    }

    func validate() throws {
        guard counts != nil else { throw ValidationError("--slots must be a comma-separated list of counts in 1...64") }
        guard tokens >= 1 else { throw ValidationError("--tokens must be at least 1") }
        guard draftList != nil else { throw ValidationError("--drafts must be a comma-separated list of: none, \(BatchDraft.allCases.map(\.rawValue).joined(separator: ", "))") }
        guard offset >= 0 else { throw ValidationError("--offset must be >= 0") }
        guard kvList != nil else { throw ValidationError("--kv-cache must be a comma-separated list of: f32, f16; got '\(kvCache)'") }
        try Limits.threads(threads)
    }

    func run() throws {
        let file = try modelOptions.openFile()
        let tok = try Tokenizer(file: file)
        let models = try kvList!.map { try Engine.loadModel(file, type: type, threads: threads, kvCache: $0) }
        let template = try ChatTemplate(template: tok.vocab.chatTemplate)
        guard FileManager.default.fileExists(atPath: questions) else { throw CLIError("question file '\(questions)' not found") }
        let all = try SpecBench.load(questions).map { specBenchPrompt($0.turns[0], tok, template) }.filter { $0.count <= 512 }
        guard !all.isEmpty else { throw CLIError("no question of '\(questions)' fits 512 tokens") }
        let prompts = (0..<all.count).map { all[($0 + offset) % all.count] }
        let context = (prompts.map(\.count).max() ?? 0) + tokens + 8
        let options = GenerationOptions(maxTokens: tokens, stopAtEOS: false)
        print("model \(modelOptions.model), \(type.rawValue), \(threads) thread(s), kernels \(Ops.implementation); \(tokens) tokens a sequence")
        print("")
        print("| sequences | KV cache | draft | aggregate tok/s (prefill included) | decode tok/s | ms per decode step | × one plain step | rows per forward | drafted rows per step | kept | tokens as fp32 KV's (sequences, leading tokens) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        var baseStep = 0.0
        var opLines: [(Int, OpProfile)] = []
        var printedCost = false
        var costLine = ""
        defer {
            if !costLine.isEmpty { print(""); print(costLine) }
            printOps(opLines)
        }
        for s in counts! {
            var f32Tokens: [[Int32]]? = nil
            for model in models {
                var plainTokens: [[Int32]]? = nil
                for d in draftList! {
                    let b = BatchDecoder(model: model, tokenizer: tok, slots: s, context: context, draft: d)
                    let profile = ops && d == nil && model === models.last ? OpProfile(layers: model.config.layers) : nil
                    if d != nil {
                        b.calibrate()
                        if !printedCost {
                            printedCost = true
                            costLine = "forward cost as calibrated (rows: ms): " + b.cost.points.map { String(format: "%d: %.2f", $0.rows, $0.seconds * 1e3) }.joined(separator: ", ")
                        }
                    }
                    var outputs = [[Int32]](repeating: [], count: s)
                    for i in 0..<s {
                        _ = try b.add(prompt: prompts[i % prompts.count], options: options, onText: { _ in true }, done: { r in
                            outputs[i] = (try? r.get())?.tokens ?? []
                        })
                    }
                    let t0 = WallClock.now()
                    var stepSeconds: [Double] = []
                    var decodeTokens = 0
                    while !b.isIdle {
                        let ts = WallClock.now()
                        let before = b.tokensOut
                        let decodeOnly = !b.hasPromptLeft
                        b.batch.opProfile = decodeOnly ? profile : nil
                        b.step()
                        if b.lastPrefillRows == 0 {
                            stepSeconds.append(WallClock.now() - ts)
                            decodeTokens += b.tokensOut - before
                        }
                    }
                    let total = WallClock.now() - t0
                    let step = stepSeconds.sorted()[stepSeconds.count / 2]
                    if baseStep == 0 { baseStep = step }
                    let decodeRate = Double(decodeTokens) / stepSeconds.reduce(0, +)
                    if model.kvFormat == .f32 && f32Tokens == nil { f32Tokens = outputs }
                    // Sequences identical to the fp32 cache's, and the mean number of leading tokens they share with it
                    // (greedy text, once it differs, goes its own way: the first difference is the measure).
                    let same = f32Tokens.map { f -> String in
                        let shared = zip(f, outputs).map { a, b in zip(a, b).prefix { $0 == $1 }.count }
                        return String(format: "%d of %d, first %.0f tokens", zip(f, outputs).filter { $0 == $1 }.count, s,
                                      Double(shared.reduce(0, +)) / Double(max(s, 1)))
                    } ?? "-"
                    print(String(format: "| %d | %@ | %@ | %.1f | %.1f | %.2f | %.2f | %.1f | %.2f | %@ | %@ |", s, model.kvFormat.rawValue, d?.rawValue ?? "none",
                                 Double(s * tokens) / total, decodeRate, step * 1e3, step / baseStep,
                                 Double(b.rowsRun) / Double(b.stepCount), Double(b.draftedTokens) / Double(b.stepCount),
                                 b.draftedTokens > 0 ? String(format: "%.0f %%", 100 * Double(b.acceptedTokens) / Double(b.draftedTokens)) : "-", same))
                    precondition(outputs.allSatisfy { $0.count == tokens }, "a sequence did not finish")
                    if let p = profile, p.forwards > 0 { opLines.append((s, p)) }
                    if let p = plainTokens { guard p == outputs else { throw CLIError("drafted tokens differ from plain batched decoding at \(s) sequences") } }
                    else { plainTokens = outputs }
                }
            }
        }
    }

    /// Milliseconds per decode step by op, summed over the layers, for each sequence count.
    func printOps(_ lines: [(Int, OpProfile)]) {
        guard !lines.isEmpty else { return }
        print("")
        print("ms per decode step by op (all layers), plain batching, \(kvList!.last!.rawValue) KV cache:")
        print("")
        print("| sequences | " + OpProfile.ops.joined(separator: " | ") + " | head | total |")
        print("|---|" + String(repeating: "---|", count: OpProfile.ops.count + 2))
        for (s, p) in lines {
            let f = Double(p.forwards)
            let cells = OpProfile.ops.indices.map { String(format: "%.2f", p.opSeconds($0) / f * 1e3) }
            print("| \(s) | " + cells.joined(separator: " | ") + String(format: " | %.2f | %.2f |", p.headSeconds / f * 1e3, p.totalSeconds / f * 1e3))
        }
    }
}
