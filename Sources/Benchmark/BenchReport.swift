import Foundation

/// One method's run on one prompt.
public struct MethodRun: Codable, Sendable, Equatable {
    public var tokens: [Int32]
    /// Wall time of the whole request, prefill included (Spec-Bench's convention).
    public var seconds: Double
    /// Tokens committed per target step (speculative methods; 1 for plain decoding).
    public var tokensPerStep: Double
    /// Other processes' CPU use during the run, in cores.
    public var foreignLoad: Double
    /// Mirror-SD only: share of rounds whose next window was a prepared branch, and Ω_κ (the
    /// committed token was in the early-exit top-κ).
    public var reuseRate: Double? = nil
    public var omega: Double? = nil
    /// Mirror-SD: the share of the target's round time spent waiting for the draft's window, and the
    /// latency law's predicted step time over the measured one.
    public var targetWaitShare: Double? = nil
    public var lawRatio: Double? = nil
    /// Mirror-SD: rounds and fallbacks by accepted length, and reuses by branch source by accepted length.
    public var roundsByAcceptance: [Int]? = nil
    public var fallbacksByAcceptance: [Int]? = nil
    public var reusesBySource: [String: [Int]]? = nil
    /// Mirror-SD with the adaptive γ: the mean window budget.
    public var adaptiveGammaMean: Double? = nil
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens.count) / seconds : 0 }
    public init(tokens: [Int32], seconds: Double, tokensPerStep: Double, foreignLoad: Double) {
        self.tokens = tokens
        self.seconds = seconds
        self.tokensPerStep = tokensPerStep
        self.foreignLoad = foreignLoad
    }
}

public struct PromptResult: Codable, Sendable {
    public var questionId: Int
    public var task: String
    public var promptTokens: Int
    /// By method name.
    public var runs: [String: MethodRun]
    public init(questionId: Int, task: String, promptTokens: Int, runs: [String: MethodRun]) {
        self.questionId = questionId
        self.task = task
        self.promptTokens = promptTokens
        self.runs = runs
    }
}

public struct MethodSummary: Codable, Sendable, Equatable {
    public var method: String
    public var prompts: Int
    /// Mean over prompts of per-prompt tokens/s.
    public var meanTokensPerSecond: Double
    /// meanTokensPerSecond / the baseline's (Spec-Bench's speedup).
    public var speedup: Double
    public var meanTokensPerStep: Double
    /// Prompts whose tokens equal the baseline's.
    public var equalToBaseline: Int
    public var busyRuns: Int
}

/// The Spec-Bench-style report: per task and overall, each method's mean per-prompt tokens/s, the
/// speedup over the baseline (the first method), tokens per target step and output equality.
public struct BenchReport: Codable, Sendable {
    public var methods: [String]
    public var maxTokens: Int
    public var prompts: [PromptResult]
    public var tasks: [String: [MethodSummary]] = [:]
    public var overall: [MethodSummary] = []
    /// nil for greedy runs; otherwise how the methods sampled. Sampled outputs differ by design, so the
    /// equality column is not a check then.
    public var sampling: String? = nil
    /// A run counts as busy when other processes used more than this many cores.
    public static let busyThreshold = 0.15

    public init(methods: [String], maxTokens: Int, prompts: [PromptResult], sampling: String? = nil) {
        self.methods = methods
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.prompts = prompts
        let taskNames = Array(Set(prompts.map(\.task))).sorted { (SpecBench.tasks.firstIndex(of: $0) ?? 99) < (SpecBench.tasks.firstIndex(of: $1) ?? 99) }
        for t in taskNames { tasks[t] = summarize(prompts.filter { $0.task == t }) }
        overall = summarize(prompts)
    }

    public var taskOrder: [String] {
        tasks.keys.sorted { (SpecBench.tasks.firstIndex(of: $0) ?? 99) < (SpecBench.tasks.firstIndex(of: $1) ?? 99) }
    }

    func summarize(_ ps: [PromptResult]) -> [MethodSummary] {
        guard let base = methods.first else { return [] }
        let baseMean = mean(ps.compactMap { $0.runs[base]?.tokensPerSecond })
        return methods.map { m in
            let runs = ps.compactMap { p in p.runs[m].map { (p, $0) } }
            let tps = mean(runs.map { $0.1.tokensPerSecond })
            return MethodSummary(
                method: m, prompts: runs.count, meanTokensPerSecond: tps, speedup: baseMean > 0 ? tps / baseMean : 0,
                meanTokensPerStep: mean(runs.map { $0.1.tokensPerStep }),
                equalToBaseline: runs.filter { $0.0.runs[base]?.tokens == $0.1.tokens }.count,
                busyRuns: runs.filter { $0.1.foreignLoad > Self.busyThreshold }.count)
        }
    }

    func mean(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }

    public func markdown() -> String {
        var s = sampling.map { "Sampled (\($0)): outputs differ from the baseline's by design.\n\n" } ?? ""
        s += "| task | method | prompts | tok/s (mean per prompt) | speedup vs \(methods.first ?? "") | tokens/target step | output = \(methods.first ?? "") | busy runs |\n"
        s += "|---|---|---|---|---|---|---|---|\n"
        for t in taskOrder + ["overall"] {
            for m in (t == "overall" ? overall : tasks[t]!) {
                let equal = sampling == nil ? "\(m.equalToBaseline)/\(m.prompts)" : "n/a"
                s += String(format: "| %@ | %@ | %d | %.2f | %.2f× | %.2f | %@ | %d |\n", t, m.method, m.prompts, m.meanTokensPerSecond,
                            m.speedup, m.meanTokensPerStep, equal, m.busyRuns)
            }
        }
        return s
    }

    /// A Mirror-SD method's rounds by accepted length A, summed over prompts: how many, and which
    /// branch source held the verdict (or none: a fallback). nil for methods without these counts.
    public func acceptanceTable(_ method: String) -> String? {
        let runs = prompts.compactMap { $0.runs[method] }
        guard let width = runs.compactMap({ $0.roundsByAcceptance?.count }).max(), width > 0 else { return nil }
        func total(_ pick: (MethodRun) -> [Int]?) -> [Int] {
            var t = [Int](repeating: 0, count: width)
            for r in runs { for (i, x) in (pick(r) ?? []).prefix(width).enumerated() { t[i] += x } }
            return t
        }
        let rounds = total(\.roundsByAcceptance), fallbacks = total(\.fallbacksByAcceptance)
        let sources = ["own", "runner_up", "early_exit"].map { s in total { $0.reusesBySource?[s] } }
        var out = "| A (accepted) | rounds | reused: own | runner-up | early exit | fallback |\n|---|---|---|---|---|---|\n"
        for a in 0..<width where rounds[a] > 0 {
            out += "| \(a) | \(rounds[a]) | \(sources[0][a]) | \(sources[1][a]) | \(sources[2][a]) | \(fallbacks[a]) |\n"
        }
        return out
    }

    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try e.encode(self)
    }

    /// Bars of per-task speedup over the baseline, one group per task, one bar per method.
    public func svg() -> String {
        let groups = taskOrder + ["overall"]
        let others = Array(methods.dropFirst())
        let colors = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860"]
        let maxS = max(1.5, (groups.flatMap { g in (g == "overall" ? overall : tasks[g]!).dropFirst().map(\.speedup) }.max() ?? 1) * 1.15)
        let w = 120 * groups.count + 120, h = 360, top = 40, bottom = 60, left = 60
        let plotH = Double(h - top - bottom)
        func y(_ v: Double) -> Double { Double(top) + plotH * (1 - v / maxS) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(left)\" y=\"20\" font-size=\"14\">Speedup over \(methods.first ?? "") (mean per-prompt tok/s ratio), \(maxTokens) new tokens</text>\n"
        for tick in stride(from: 0.0, through: maxS, by: 0.5) {
            s += String(format: "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%@\"/>", left, w - 20, y(tick), y(tick), tick == 1 ? "#888" : "#eee")
            s += String(format: "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.1f×</text>\n", left - 6, y(tick) + 4, tick)
        }
        let barW = 90.0 / Double(max(others.count, 1))
        for (gi, g) in groups.enumerated() {
            let x0 = Double(left + 20 + gi * 120)
            for (mi, m) in others.enumerated() {
                guard let sm = (g == "overall" ? overall : tasks[g]!).first(where: { $0.method == m }) else { continue }
                let x = x0 + Double(mi) * barW
                s += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"><title>%@ %@: %.2f×</title></rect>\n",
                            x, y(sm.speedup), barW - 4, max(0, y(0) - y(sm.speedup)), colors[mi % colors.count], g, m, sm.speedup)
                s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">%.2f</text>\n", x + (barW - 4) / 2, y(sm.speedup) - 3, sm.speedup)
            }
            s += String(format: "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%@</text>\n", x0 + 45, h - bottom + 18, g)
        }
        for (mi, m) in others.enumerated() {
            s += "<rect x=\"\(left + mi * 160)\" y=\"\(h - 24)\" width=\"12\" height=\"12\" fill=\"\(colors[mi % colors.count])\"/>"
            s += "<text x=\"\(left + mi * 160 + 16)\" y=\"\(h - 14)\">\(m)</text>\n"
        }
        return s + "</svg>\n"
    }
}
