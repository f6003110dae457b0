import Benchmark
import TestSupport
import Foundation
import XCTest

final class BenchReportTests: XCTestCase {
    func run(_ n: Int, _ s: Double, _ step: Double = 1, tokens: [Int32]? = nil, load: Double = 0) -> MethodRun {
        MethodRun(tokens: tokens ?? [Int32](repeating: 7, count: n), seconds: s, tokensPerStep: step, foreignLoad: load)
    }

    func testSpeedupIsTheRatioOfMeanPerPromptThroughputs() throws {
        let prompts = [
            PromptResult(questionId: 1, task: "qa", promptTokens: 10, runs: ["ar": run(10, 1), "sd": run(10, 0.5, 2.5)]),
            PromptResult(questionId: 2, task: "qa", promptTokens: 12, runs: ["ar": run(10, 2), "sd": run(10, 1, 2, tokens: [Int32](repeating: 8, count: 10), load: 0.5)]),
            PromptResult(questionId: 3, task: "rag", promptTokens: 40, runs: ["ar": run(20, 4), "sd": run(20, 1, 3)]),
        ]
        let r = BenchReport(methods: ["ar", "sd"], maxTokens: 10, prompts: prompts)
        let qa = r.tasks["qa"]!
        XCTAssertEqual(qa[0].meanTokensPerSecond, (10 + 5) / 2)
        XCTAssertEqual(qa[1].meanTokensPerSecond, (20 + 10) / 2)
        XCTAssertEqual(qa[1].speedup, qa[1].meanTokensPerSecond / qa[0].meanTokensPerSecond, accuracy: 1e-12)
        XCTAssertEqual(qa[1].meanTokensPerStep, 2.25)
        XCTAssertEqual(qa[1].equalToBaseline, 1)
        XCTAssertEqual(qa[1].busyRuns, 1)
        XCTAssertEqual(r.overall[1].speedup, ((20 + 10 + 20) / 3.0) / ((10 + 5 + 5) / 3.0), accuracy: 1e-12)
        XCTAssertEqual(r.overall[0].speedup, 1)
        XCTAssertTrue(r.markdown().contains("| qa | sd | 2 | 15.00 | 2.00× |"))
        XCTAssertTrue(r.svg().hasPrefix("<svg"))
        let back = try JSONDecoder().decode(BenchReport.self, from: r.json())
        XCTAssertEqual(back.overall, r.overall)
    }

    func testSelectionIsStratified() throws {
        let qs = try SpecBench.load(Paths.specBenchQuestions.path)
        XCTAssertEqual(qs.count, 480)
        let s = SpecBench.select(qs, perTask: 5)
        XCTAssertEqual(s.count, 30)
        for t in SpecBench.tasks { XCTAssertEqual(s.filter { $0.task == t }.count, 5, t) }
        XCTAssertEqual(Set(s.filter { $0.task == "mt_bench" }.map(\.category)).count, 5, "spread over MT-bench categories")
    }

    func testAcceptanceTableSumsOverPromptsAndSampledReportsSayOutputsDiffer() throws {
        var a = run(10, 1), b = run(10, 1)
        a.roundsByAcceptance = [1, 0, 4]; a.fallbacksByAcceptance = [1, 0, 1]
        a.reusesBySource = ["own": [0, 0, 3], "runner_up": [0, 0, 0], "early_exit": [0, 0, 0]]
        b.roundsByAcceptance = [2, 1, 5]; b.fallbacksByAcceptance = [1, 0, 0]
        b.reusesBySource = ["own": [0, 0, 4], "runner_up": [1, 1, 1], "early_exit": [0, 0, 0]]
        let prompts = [PromptResult(questionId: 1, task: "qa", promptTokens: 10, runs: ["ar": run(10, 2), "mirror": a]),
                       PromptResult(questionId: 2, task: "qa", promptTokens: 10, runs: ["ar": run(10, 2, tokens: [Int32](repeating: 1, count: 10)), "mirror": b])]
        let r = BenchReport(methods: ["ar", "mirror"], maxTokens: 10, prompts: prompts, sampling: "T=0.7")
        let table = try XCTUnwrap(r.acceptanceTable("mirror"))
        XCTAssertTrue(table.contains("| 0 | 3 | 0 | 1 | 0 | 2 |"), table)
        XCTAssertTrue(table.contains("| 1 | 1 | 0 | 1 | 0 | 0 |"), table)
        XCTAssertTrue(table.contains("| 2 | 9 | 7 | 1 | 0 | 1 |"), table)
        XCTAssertNil(r.acceptanceTable("ar"), "no counts for plain decoding")
        let md = r.markdown()
        XCTAssertTrue(md.hasPrefix("Sampled (T=0.7): outputs differ"), md)
        XCTAssertTrue(md.contains("| qa | mirror | 2 | 10.00 | 2.00× | 1.00 | n/a | 0 |"), md)
    }
}

