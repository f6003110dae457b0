import ArgumentParser
import Benchmark
import Engine
import Foundation
import Generation
import GGUF
import TensorCore
import Tokenizer

/// Teacher-forced passes of the target over Spec-Bench prompts and its own answers, layer by layer:
/// the data an exit lens is trained on (lens-data) and the engine's own measure of one (eval-lens).
struct LensPass {
    let session: TargetSession
    let tok: Tokenizer
    let template: ChatTemplate
    let maxTokens: Int
    let maxPrompt: Int

    /// The chat-rendered first turn, clipped to `maxPrompt` tokens (its first 2/3 and last 1/3, as
    /// tools/draft/gen.py does), then the target's answer: greedy, or sampled at `sampling`.
    func sequence(_ q: SpecBenchQuestion, sampling: SamplingParams) throws -> (prompt: [Int32], answer: [Int32]) {
        var prompt = specBenchPrompt(q.turns[0], tok, template)
        if prompt.count > maxPrompt {
            let head = maxPrompt * 2 / 3
            prompt = Array(prompt[..<head] + prompt[(prompt.count - (maxPrompt - head))...])
        }
        if sampling.isGreedy {
            return (prompt, try DraftEval.greedyPath(target: session, prompt: prompt, maxTokens: maxTokens, eos: tok.eosId))
        }
        var p = sampling
        p.seed &+= UInt64(max(0, q.questionId))
        let r = try Generator(model: session, tokenizer: tok).generate(prompt: prompt, options: GenerationOptions(maxTokens: maxTokens, sampling: p))
        return (prompt, r.tokens)
    }

    /// Runs `tokens` (rows predict their successor) through the target in chunks; after each layer in
    /// `stops` calls `atStop(layer, rowOffset, rows)`, and after the last layer `atEnd(rowOffset, rows)`
    /// with the final logits. The session is empty before and after.
    func run(_ tokens: [Int32], stops: [Int], atStop: (Int, Int, Int) throws -> Void,
             atEnd: (Int, Int, UnsafeMutablePointer<Float>) throws -> Void) throws {
        session.truncate(to: 0)
        defer { session.truncate(to: 0) }
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + session.maxBatch)
            try tokens.withUnsafeBufferPointer { try session.begin(tokens: UnsafeBufferPointer(rebasing: $0[start..<end]), at: start) }
            var done = 0
            for l in stops {
                try session.runLayers(done..<l)
                done = l
                try atStop(l, start, end - start)
            }
            try session.runLayers(done..<session.config.layers)
            try atEnd(start, end - start, session.computeLogits(rows: 0..<(end - start)))
            start = end
        }
    }
}

/// Top-κ ids of a logit row among its first `limit` ids, best first (κ ≤ 8: insertion into a tiny list).
func topIds(_ row: UnsafePointer<Float>, _ limit: Int, _ k: Int, into out: inout [Int32]) {
    out.removeAll(keepingCapacity: true)
    var vals: [Float] = []
    vals.reserveCapacity(k + 1)
    for i in 0..<limit {
        let v = row[i]
        if out.count == k, v <= vals[k - 1] { continue }
        var j = out.count
        while j > 0, vals[j - 1] < v { j -= 1 }
        out.insert(Int32(i), at: j)
        vals.insert(v, at: j)
        if out.count > k { out.removeLast(); vals.removeLast() }
    }
}

func parseLayers(_ s: String, below layers: Int) throws -> [Int] {
    let ls = s.split(separator: ",").compactMap { Int($0) }
    guard !ls.isEmpty, ls.count == s.split(separator: ",").count, ls.allSatisfy({ (1..<layers).contains($0) }) else {
        throw ValidationError("--layers must be layer numbers in 1..<\(layers) separated by commas, got '\(s)'")
    }
    return Array(Set(ls)).sorted()
}

struct LensDataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lens-data",
        abstract: "Write exit-lens training data: the target's hidden states after chosen layers and its final distribution, over its own answers to training-split prompts.",
        discussion: """
            Prompts are Spec-Bench first turns from the training split (--split, the 'train' ids), never the \
            held-out ones. Per row (a position that predicts the next token) the folder gets: h<L>.f16 (the \
            residual stream after L layers), final.f16 (the final-normed hidden), top.i32/top.f32 (the 32 best \
            ids and logits), lse.f32 (log-sum-exp), answer.u8 (1 on rows that predict answer tokens), and once: \
            head.f32 (the output head, vocab × dim), norm.f32 (the final norm weight) and manifest.json. \
            tools/lens/train.py fits lenses from it.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Output folder (created).") var out: String
    @Option(help: "Layers to record, comma-separated.") var layers: String = "15,18,22,26"
    @Option(help: "Training-split prompts per Spec-Bench task.") var perTask: Int = 10
    @Option(help: "Skip this many training prompts per task first (a second batch of data).") var skip: Int = 0
    @Option(help: "Longest answer, in tokens.") var maxTokens: Int = 128
    @Option(help: "Longest prompt, in tokens (longer ones keep their first 2/3 and last 1/3).") var maxPrompt: Int = 512
    @Option(help: "Answers sampled at this temperature (0: greedy).") var temp: Float = 0
    @Option(help: "Sampling seed (plus the question id).") var seed: UInt64 = 1
    @Option(help: "The train/held-out split (tools/draft/split.json).") var split: String = "tools/draft/split.json"
    @Option(help: "Spec-Bench question file.") var questions: String = "data/specbench/question.jsonl"

    func validate() throws {
        guard perTask >= 1, skip >= 0 else { throw ValidationError("--per-task must be at least 1 and --skip at least 0") }
        guard maxTokens >= 1, maxPrompt >= 16 else { throw ValidationError("--max-tokens must be at least 1 and --max-prompt at least 16") }
        guard temp >= 0, temp.isFinite else { throw ValidationError("--temp must be a finite number ≥ 0") }
    }

    func trainQuestions() throws -> [SpecBenchQuestion] {
        guard let data = FileManager.default.contents(atPath: split),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let ids = obj["train"] as? [Int] else {
            throw CLIError("'\(split)' is not a split file with a 'train' list of question ids")
        }
        guard FileManager.default.fileExists(atPath: questions) else { throw CLIError("question file '\(questions)' not found") }
        let train = Set(ids)
        let all = try SpecBench.load(questions).filter { train.contains($0.questionId) }
        return SpecBench.tasks.flatMap { task in
            all.filter { $0.task == task }.sorted { $0.questionId < $1.questionId }.dropFirst(skip).prefix(perTask)
        }
    }

    func run() throws {
        let file = try modelOptions.openFile()
        let tok = try Tokenizer(file: file)
        let model = try Engine.loadModel(file, type: .f32)
        let stops = try parseLayers(layers, below: model.config.layers)
        let session = model.makeSession(maxContext: maxPrompt + maxTokens + 8, maxBatch: 64)
        let pass = LensPass(session: session, tok: tok, template: try ChatTemplate(template: tok.vocab.chatTemplate),
                            maxTokens: maxTokens, maxPrompt: maxPrompt)
        let qs = try trainQuestions()
        guard !qs.isEmpty else { throw CLIError("no training-split questions selected") }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let c = model.config, d = c.dim, v = c.vocabSize, k = 32
        var sinks: [String: FileHandle] = [:]
        func sink(_ name: String) throws -> FileHandle {
            if let h = sinks[name] { return h }
            let path = out + "/" + name
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw CLIError("cannot create '\(path)'") }
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            sinks[name] = h
            return h
        }
        func write<T>(_ name: String, _ values: [T]) throws {
            try sink(name).write(values.withUnsafeBytes { Data($0) })
        }
        func half(_ p: UnsafePointer<Float>, _ n: Int) -> [Float16] { (0..<n).map { Float16(p[$0]) } }

        // The head and final norm once, as the engine computes them (dequantized).
        var row = [Float](repeating: 0, count: d)
        let head = try sink("head.f32")
        for t in 0..<v {
            row.withUnsafeMutableBufferPointer { model.output.copyRow(t, into: $0.baseAddress!) }
            head.write(row.withUnsafeBytes { Data($0) })
        }
        try write("norm.f32", model.outputNorm.toArray())

        let sampling = try SamplingParams(temperature: temp, seed: seed)
        var rows = 0, answerRows = 0
        let t0 = WallClock.now()
        var ids: [Int32] = []
        for (i, q) in qs.enumerated() {
            let (prompt, answer) = try pass.sequence(q, sampling: sampling)
            let seq = prompt + answer.dropLast()
            try pass.run(seq, stops: stops, atStop: { l, _, n in
                try write("h\(l).f16", half(session.hidden, n * d))
            }, atEnd: { off, n, logits in
                var z = [Float](repeating: 0, count: n * d)
                var tops: [Int32] = [], topv: [Float] = [], lse: [Float] = [], ans: [UInt8] = []
                for r in 0..<n {
                    let h = session.hidden + r * d
                    var ss: Float = 0
                    for j in 0..<d { ss += h[j] * h[j] }
                    let s = 1 / (ss / Float(d) + c.normEps).squareRoot()
                    for j in 0..<d { z[r * d + j] = h[j] * s * model.outputNorm.pointer[j] }
                    let lr = logits + r * v
                    topIds(lr, v, k, into: &ids)
                    tops += ids
                    topv += ids.map { lr[Int($0)] }
                    var m = -Float.infinity
                    for j in 0..<v { m = max(m, lr[j]) }
                    var sum: Double = 0
                    for j in 0..<v { sum += Double(expf(lr[j] - m)) }
                    lse.append(m + Float(log(sum)))
                    ans.append(off + r >= prompt.count - 1 ? 1 : 0)
                }
                try write("final.f16", z.withUnsafeBufferPointer { half($0.baseAddress!, n * d) })
                try write("top.i32", tops)
                try write("top.f32", topv)
                try write("lse.f32", lse)
                try write("answer.u8", ans)
            })
            rows += seq.count
            answerRows += answer.count
            note(String(format: "[%d/%d] q%d %@: %d prompt + %d answer tokens (%.0f s)", i + 1, qs.count, q.questionId, q.task,
                        prompt.count, answer.count, WallClock.now() - t0))
        }
        for h in sinks.values { try h.close() }
        let manifest: [String: Any] = [
            "rows": rows, "answer_rows": answerRows, "dim": d, "vocab": v, "top_k": k, "layers": stops,
            "fingerprint": model.fingerprint, "model": modelOptions.model, "questions": qs.map(\.questionId),
            "max_tokens": maxTokens, "max_prompt": maxPrompt, "temperature": Double(temp), "seed": seed,
            "norm_eps": Double(c.normEps),
        ]
        try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: out + "/manifest.json"))
        note("lens-data: \(rows) rows (\(answerRows) answer rows) from \(qs.count) prompts in \(out)")
    }
}

struct EvalLensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-lens",
        abstract: "Ω_κ of the early-exit proxy, raw and through an exit lens, on held-out Spec-Bench prompts (the engine's own proxy path).",
        discussion: """
            Ω_κ is the share of answer positions whose target greedy token is in the proxy's top-κ after the \
            exit layer. The answers are the target's greedy ones and the prompts are the held-out split (the \
            first --per-category questions per task, as bench selects them).
            """)

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "The lens file.") var lens: String
    @Option(help: "Layers to measure (default: every layer the lens holds).") var layers: String?
    @Option(name: .customLong("per-category"), help: "Held-out prompts per Spec-Bench task.") var perTask: Int = 7
    @Option(help: "Longest answer, in tokens.") var maxTokens: Int = 128
    @Option(help: "Longest prompt, in tokens.") var maxPrompt: Int = 512
    @Option(help: "Also score top-κ among the first N ids (the engine's --proxy-vocab).") var proxyVocab: Int = Defaults.proxyVocab
    @Option(help: "Write the results as JSON to this file.") var json: String?
    @Option(help: "Spec-Bench question file.") var questions: String = "data/specbench/question.jsonl"

    func validate() throws {
        guard (1...20).contains(perTask) else { throw ValidationError("--per-category must be in 1...20 (the held-out split)") }
        guard maxTokens >= 1, maxPrompt >= 16 else { throw ValidationError("--max-tokens must be at least 1 and --max-prompt at least 16") }
    }

    func run() throws {
        let file = try modelOptions.openFile()
        let tok = try Tokenizer(file: file)
        let model = try Engine.loadModel(file, type: .f32)
        guard FileManager.default.fileExists(atPath: lens) else { throw CLIError("exit-lens file '\(lens)' not found") }
        let lensFile = try GGUFFile(path: lens)
        let stops = try layers.map { try parseLayers($0, below: model.config.layers) } ?? ExitLens.layers(in: lensFile)
        let lenses = Dictionary(uniqueKeysWithValues: try stops.map { ($0, try Engine.exitLens(file: lensFile, layer: $0, model: model)) })
        let session = model.makeSession(maxContext: maxPrompt + maxTokens + 8, maxBatch: 64)
        let pass = LensPass(session: session, tok: tok, template: try ChatTemplate(template: tok.vocab.chatTemplate),
                            maxTokens: maxTokens, maxPrompt: maxPrompt)
        guard FileManager.default.fileExists(atPath: questions) else { throw CLIError("question file '\(questions)' not found") }
        let qs = SpecBench.select(try SpecBench.load(questions), perTask: perTask)
        let v = model.config.vocabSize, pv = min(proxyVocab > 0 ? proxyVocab : v, v)
        let kappas = [1, 2, 4, 8]
        // hits[layer][lens 0/1][vocab full 0 / limited 1][κ index]
        var hits = [Int: [[[Int]]]]()
        for l in stops { hits[l] = Array(repeating: Array(repeating: Array(repeating: 0, count: kappas.count), count: 2), count: 2) }
        var positions = 0
        let t0 = WallClock.now()
        var ids: [Int32] = []
        for (i, q) in qs.enumerated() {
            let (prompt, answer) = try pass.sequence(q, sampling: .greedy)
            let seq = prompt + answer.dropLast()
            let first = prompt.count - 1  // the first row that predicts an answer token
            // Proxy top-8 ids per row, per layer and lens, kept until the final logits name the target token.
            var tops: [Int: [[[Int32]]]] = [:]
            var finals: [Int32] = []
            try pass.run(seq, stops: stops, atStop: { l, off, n in
                for useLens in [false, true] {
                    session.exitLens = useLens ? lenses[l] : nil
                    let logits = session.computeProxyLogits(rows: 0..<n)
                    for r in 0..<n where off + r >= first {
                        for (vi, limit) in [v, pv].enumerated() {
                            topIds(logits + r * v, limit, 8, into: &ids)
                            tops[l, default: [[], [], [], []]][(useLens ? 2 : 0) + vi].append(ids)
                        }
                    }
                }
                session.exitLens = nil
            }, atEnd: { off, n, logits in
                for r in 0..<n where off + r >= first {
                    topIds(logits + r * v, v, 1, into: &ids)
                    finals.append(ids[0])
                }
            })
            for l in stops {
                for slot in 0..<4 {
                    for (p, y) in finals.enumerated() {
                        let t = tops[l]![slot][p]
                        for (ki, k) in kappas.enumerated() where t.prefix(k).contains(y) { hits[l]![slot / 2][slot % 2][ki] += 1 }
                    }
                }
            }
            positions += finals.count
            note(String(format: "[%d/%d] q%d %@: %d answer positions (%.0f s)", i + 1, qs.count, q.questionId, q.task, finals.count, WallClock.now() - t0))
        }
        print("Ω_κ on \(positions) held-out answer positions (\(qs.count) prompts, greedy answers of up to \(maxTokens) tokens; lens \((lens as NSString).lastPathComponent))\n")
        print("| layer | proxy | Ω1 | Ω2 | Ω4 | Ω8 | Ω1 /\(pv) | Ω2 /\(pv) | Ω4 /\(pv) | Ω8 /\(pv) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        var rows: [[String: Any]] = []
        for l in stops {
            for useLens in [0, 1] {
                let h = hits[l]![useLens]
                let f = { (x: Int) in Double(x) / Double(max(1, positions)) }
                print("| \(l) | \(useLens == 1 ? "lens" : "raw") | " + (h[0] + h[1]).map { String(format: "%.3f", f($0)) }.joined(separator: " | ") + " |")
                rows.append(["layer": l, "proxy": useLens == 1 ? "lens" : "raw", "omega": h[0].map(f), "omega_limited": h[1].map(f)])
            }
        }
        if let json {
            let obj: [String: Any] = ["positions": positions, "prompts": qs.count, "kappas": kappas, "proxy_vocab": pv,
                                      "lens": lens, "rows": rows, "max_tokens": maxTokens]
            try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
            note("wrote \(json)")
        }
    }
}
