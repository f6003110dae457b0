import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TestSupport
import XCTest

/// `serve --parallel N`: plain-decoding requests share forwards, and each still gets the answer it
/// gets alone, whatever else is in the batch and whenever it arrives.
final class BatchedServerTests: XCTestCase {
    func requireModel() throws {
        do { _ = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
    }

    /// Eight requests: four prompts, greedy and seeded-sampled, different lengths, one with a stop string.
    func bodies() -> [[String: Any]] {
        let prompts = ["Give three tips for writing clear code.", "What is the capital of France?", "Write a haiku about the sea.",
                       "Count from one to ten."]
        return (0..<8).map { i in
            var b: [String: Any] = ["messages": [["role": "user", "content": prompts[i % 4]]], "max_tokens": 10 + 4 * i,
                                    "mirror_sd": ["mode": "ar"]]
            b["temperature"] = i % 2 == 0 ? 0 : 0.9
            if i % 2 == 1 { b["seed"] = 1000 + i }
            if i == 6 { b["stop"] = ["."] }
            return b
        }
    }

    func text(_ r: ServerProcess.Reply?) -> String? {
        ((r?.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
    }

    func testBatchedAnswersEqualEachRequestAloneWhateverArrivesWhen() throws {
        try requireModel()
        let args = ["--mode", "ar", "--target-type", "native", "--threads", "2"]
        let serial = try ServerProcess(args + ["--parallel", "1"])
        let alone = try bodies().map { try text(serial.post("/v1/chat/completions", $0)) }
        XCTAssertEqual(serial.stop(), 0)
        XCTAssertTrue(alone.allSatisfy { $0 != nil })

        let server = try ServerProcess(args + ["--parallel", "3"])
        nonisolated(unsafe) var replies = [ServerProcess.Reply?](repeating: nil, count: 8)
        let lock = NSLock()
        let group = DispatchGroup()
        for (i, body) in bodies().enumerated() {
            let data = try JSONSerialization.data(withJSONObject: body)
            group.enter()
            Thread {
                usleep(UInt32(i % 3) * 40_000)  // staggered arrivals: some join a batch already running
                let r = try? server.request("POST", "/v1/chat/completions", body: data)
                lock.lock(); replies[i] = r; lock.unlock()
                group.leave()
            }.start()
        }
        group.wait()
        for i in 0..<8 {
            XCTAssertEqual(replies[i]?.status, 200, "request \(i): \(replies[i]?.text ?? "no reply")")
            XCTAssertEqual(text(replies[i]), alone[i], "request \(i): its batched answer differs from its answer alone")
        }
        let metrics = try server.request("GET", "/metrics").text
        XCTAssertTrue(metrics.contains("mirrorsd_batch_slots 3"), metrics)
        func counter(_ name: String) -> Int? {
            metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Int($0.split(separator: " ")[1]) }
        }
        XCTAssertGreaterThan(counter("mirrorsd_batch_rows_total") ?? 0, counter("mirrorsd_batch_steps_total") ?? 0, "no forward held more than one row")
        XCTAssertNotNil(counter("mirrorsd_compute_chunks_moved_total"), "the hand-over counter is missing from /metrics")
        // Whether a request found another's prefix to copy depends on timing; the counter is always served.
        XCTAssertNotNil(counter("mirrorsd_prefix_copies_total"), "the prefix copy counter is missing from /metrics")
        #if os(Linux)
        // The start line says what backs the weights and caches, whatever the machine's THP mode.
        let start = server.stderr.split(separator: "\n").first { $0.contains("listening on") }.map(String.init) ?? ""
        XCTAssertNotNil(start.range(of: #"KV cache, \d+ MB on huge pages"#, options: .regularExpression), start)
        #endif
        XCTAssertEqual(server.stop(), 0)
    }

    func testAHangUpFreesItsSlotAndSpeculativeRequestsStillRun() throws {
        try requireModel()
        let server = try ServerProcess(["--mode", "ar", "--parallel", "2", "--queue-size", "0"])
        let long = try RawClient(port: server.port, path: "/v1/completions",
                                 json: ["prompt": "Once upon a time", "max_tokens": 2000, "temperature": 0, "stream": true])
        XCTAssertTrue(long.read(until: "data: ", seconds: 120).hasPrefix("HTTP/1.1 200"))
        // One slot left: a short request runs beside the long one.
        let short = try server.post("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "max_tokens": 4, "temperature": 0])
        XCTAssertEqual(short.status, 200, short.text)
        long.hangUp()
        // A Mirror-SD request runs whole once the batch has drained.
        var mirror: ServerProcess.Reply?
        for _ in 0..<100 {
            mirror = try server.post("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]], "max_tokens": 8, "temperature": 0,
                                                              "mirror_sd": ["mode": "mirror"]])
            if mirror?.status == 200 { break }
            usleep(100_000)
        }
        XCTAssertEqual(mirror?.status, 200, mirror?.text ?? "")
        XCTAssertEqual((mirror?.json["mirror_sd"] as? [String: Any])?["mode"] as? String, "mirror")
        let metrics = try server.request("GET", "/metrics").text
        XCTAssertTrue(metrics.contains("mirrorsd_generations_cancelled_total 1"), metrics)
        XCTAssertEqual(server.stop(), 0)
    }
}

extension BatchedServerTests {
    /// logprobs: each token's log probability under the model and its most likely alternatives, the
    /// same batched (the default) or alone; a speculative default decodes plainly when they are asked.
    func testLogprobsAreTheModelsAndTheSameInTheBatch() throws {
        try requireModel()
        let body: [String: Any] = ["messages": [["role": "user", "content": "What is the capital of France?"]], "max_tokens": 12,
                                   "temperature": 0, "logprobs": true, "top_logprobs": 4]
        var answers: [[[String: Any]]] = []
        for args in [["--parallel", "1", "--mode", "mirror"], []] {
            let server = try ServerProcess(args)
            let r = try server.post("/v1/chat/completions", body)
            XCTAssertEqual(r.status, 200, r.text)
            let choice = try XCTUnwrap((r.json["choices"] as? [[String: Any]])?.first)
            let content = try XCTUnwrap((choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
            XCTAssertEqual(content.count, (r.json["usage"] as? [String: Any])?["completion_tokens"] as? Int, "one entry per token")
            XCTAssertGreaterThan(content.count, 2)
            var spelled: [UInt8] = []
            for e in content {
                let lp = try XCTUnwrap(e["logprob"] as? Double)
                XCTAssertLessThanOrEqual(lp, 0)
                let top = try XCTUnwrap(e["top_logprobs"] as? [[String: Any]])
                XCTAssertEqual(top.count, 4)
                XCTAssertEqual(top.first?["token"] as? String, e["token"] as? String, "greedy: the token is its own most likely")
                let tops = top.compactMap { $0["logprob"] as? Double }
                XCTAssertEqual(tops, tops.sorted(by: >))
                spelled += (e["bytes"] as? [Int] ?? []).map { UInt8($0) }
            }
            XCTAssertEqual(String(decoding: spelled, as: UTF8.self), (choice["message"] as? [String: Any])?["content"] as? String)
            XCTAssertEqual((r.json["mirror_sd"] as? [String: Any])?["mode"] as? String, "ar", "logprobs decode plainly")
            answers.append(content)
            XCTAssertEqual(server.stop(), 0)
        }
        XCTAssertEqual(answers[0].map { $0["logprob"] as? Double }, answers[1].map { $0["logprob"] as? Double },
                       "the batched server's log probabilities are the serial one's")
    }
}
