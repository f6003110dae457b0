import Engine
import Foundation
import Generation
import GGUF
import Server
import TestSupport
import XCTest

/// The server's scheduler in process, with real threads (CI runs it under the thread sanitizer):
/// requests from many tasks at once, batched and whole, one cancelled, each batched answer equal to
/// the request decoded alone.
final class SchedulerTests: XCTestCase {
    func tinyEngine() throws -> Engine {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("scheduler-tiny-\(getpid()).gguf").path
        try Data(TinyLlama.gguf(seed: 7, metadata: ["tokenizer.ggml.pre": .string("gpt2"), "tokenizer.ggml.merges": .array(.string, [])])).write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        var c = EngineConfiguration()
        c.modelPath = path
        c.context = 128
        c.sessions = 8
        return try Engine(c)
    }

    func testConcurrentRequestsGetTheirSoloAnswersAndACancelledOneLeaves() async throws {
        let engine = try tinyEngine()
        func prompt(_ i: Int) -> [Int32] {
            let n: Int = 3 + 5 * i
            return (0..<n).map { (j: Int) -> Int32 in Int32((j * 7 + i * 13) % 90 + 1) }
        }
        let prompts: [[Int32]] = (0..<7).map(prompt)
        let options: [GenerationOptions] = (0..<7).map { i in
            var o = GenerationOptions(maxTokens: 10 + 4 * i, stopAtEOS: false)
            if i % 2 == 1 { o.sampling = try! SamplingParams(temperature: 0.9, topK: 20, seed: UInt64(40 + i)) }
            return o
        }
        let alone = try zip(prompts, options).map { p, o in
            try Generator(model: engine.model.makeSession(maxContext: 128, maxBatch: 64), tokenizer: engine.tokenizer).generate(prompt: p, options: o).tokens
        }
        let scheduler = Scheduler(engine: engine, capacity: 16, parallel: 3, draft: .lookup)
        let cancelled = CancelFlag()
        let results = try await withThrowingTaskGroup(of: (Int, [Int32]?).self) { group in
            for i in 0..<7 {
                group.addTask {
                    try await Task.sleep(nanoseconds: UInt64(i) * 2_000_000)
                    XCTAssertTrue(scheduler.admit())
                    if i == 4 {
                        // A whole job between batches, as an sd or mirror request runs.
                        let tokens = try await scheduler.run { engine in
                            try Generator(model: engine.model.makeSession(maxContext: 128, maxBatch: 64), tokenizer: engine.tokenizer)
                                .generate(prompt: prompts[i], options: options[i]).tokens
                        }
                        return (i, tokens)
                    }
                    let flag = i == 6 ? cancelled : CancelFlag()
                    do {
                        let (r, _) = try await scheduler.runBatched(prompt: prompts[i], options: options[i], cancel: flag) { _ in
                            if i == 6 { flag.set() }
                        }
                        return (i, i == 6 ? nil : r.tokens)
                    } catch is CancellationError {
                        return (i, nil)
                    }
                }
            }
            var out = [[Int32]?](repeating: nil, count: 7)
            for try await (i, t) in group { out[i] = t }
            return out
        }
        for i in 0..<7 where i != 6 {
            XCTAssertEqual(results[i], alone[i], "request \(i): its answer differs from decoding it alone")
        }
        XCTAssertTrue(cancelled.isSet)
        XCTAssertEqual(scheduler.queueDepth, 0, "every admitted request freed its place")
        // A whole job runs on the scheduler's queue after the batch loop has ended and published its figures.
        XCTAssertTrue(scheduler.admit())
        _ = try await scheduler.run { _ in 0 }
        let f = try XCTUnwrap(scheduler.batchFigures)
        XCTAssertEqual(f.active, 0)
        XCTAssertGreaterThan(f.rows, f.steps, "some forwards held several sequences")
    }
}
