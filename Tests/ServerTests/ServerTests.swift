import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TestSupport
import XCTest

/// The OpenAI-compatible server over real HTTP on a loopback port: answers equal to the CLI's,
/// streams, every bad-input error, concurrency, the queue bound, hang-ups and shutdown.
final class ServerTests: XCTestCase {
    static let prompt = "Give three tips for writing clear code."

    func requireModel() throws {
        do { _ = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
    }

    func chat(_ mode: String, tokens: Int = 24, stream: Bool = false, extra: [String: Any] = [:]) -> [String: Any] {
        var body: [String: Any] = ["messages": [["role": "user", "content": Self.prompt]], "max_tokens": tokens, "temperature": 0,
                                   "mirror_sd": ["mode": mode], "stream": stream]
        for (k, v) in extra { body[k] = v }
        return body
    }

    /// `mirror-sd generate` on the same prompt, as JSON.
    func cliText(mode: String, tokens: Int) throws -> String {
        let p = Process()
        p.executableURL = ServerProcess.binary
        // The server's default target: the file's own formats, an fp16 KV cache.
        p.arguments = ["generate", "--chat", "--prompt", Self.prompt, "-n", String(tokens), "--mode", mode, "--target-type", "native",
                       "--kv-cache", "f16", "--json"]
        p.currentDirectoryURL = Paths.packageRoot
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return try XCTUnwrap(obj?["text"] as? String)
    }

    func testGreedyAnswersEqualTheCLIAndStreamsConcatenateToThem() throws {
        try requireModel()
        let server = try ServerProcess([])
        for mode in ["ar", "sd", "mirror"] {
            let cli = try cliText(mode: mode, tokens: 24)
            let whole = try server.post("/v1/chat/completions", chat(mode))
            XCTAssertEqual(whole.status, 200, whole.text)
            XCTAssertEqual(completionText(whole.json), cli, "\(mode): the server's greedy answer differs from the CLI's")
            let usage = try XCTUnwrap(whole.json["usage"] as? [String: Any])
            XCTAssertEqual(usage["completion_tokens"] as? Int, 24)
            XCTAssertEqual((usage["prompt_tokens"] as? Int).map { $0 + 24 }, usage["total_tokens"] as? Int)
            let stats = try XCTUnwrap(whole.json["mirror_sd"] as? [String: Any])
            XCTAssertEqual(stats["mode"] as? String, mode)
            if mode != "ar" { XCTAssertNotNil((stats["stats"] as? [String: Any])?["speculative"], "\(mode): no speculative statistics") }
            if mode == "mirror" { XCTAssertNotNil((stats["stats"] as? [String: Any])?["mirror"]) }

            let streamed = try server.post("/v1/chat/completions", chat(mode, stream: true))
            XCTAssertEqual(streamed.status, 200)
            XCTAssertEqual(streamed.headers["content-type"], "text/event-stream")
            let s = try streamedText(streamed.text)
            XCTAssertEqual(s.text, cli, "\(mode): the streamed chunks do not concatenate to the answer")
            XCTAssertTrue(s.done, "\(mode): no data: [DONE]")
            XCTAssertEqual(s.finish, "length")
        }
        // A text completion, streamed with usage.
        let r = try server.post("/v1/completions", ["prompt": "Once upon a time", "max_tokens": 8, "temperature": 0, "stream": true,
                                                    "stream_options": ["include_usage": true], "mirror_sd": ["mode": "ar"]])
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.text.contains("\"usage\":{\"completion_tokens\":8"), r.text)
        XCTAssertEqual(try server.request("GET", "/health").status, 200)
        let models = try server.request("GET", "/v1/models")
        XCTAssertEqual(((models.json["data"] as? [[String: Any]])?.first?["id"]) as? String, "SmolLM2-135M-Instruct.Q4_1.gguf")
        let metrics = try server.request("GET", "/metrics").text
        XCTAssertTrue(metrics.contains("mirrorsd_completion_tokens_total 152"), metrics)  // 6 × 24 + 8
        XCTAssertTrue(metrics.contains("mirrorsd_requests_total{endpoint=\"chat\",status=\"200\"} 6"), metrics)
        // A request may ask for the adaptive γ (and no branch budget); the greedy answer stays the target's, and the statistics say so.
        let adaptive = try server.post("/v1/chat/completions", chat("mirror", extra: ["mirror_sd": ["mode": "mirror", "adaptive_gamma": true, "gamma": 6, "branch_budget": false]]))
        XCTAssertEqual(adaptive.status, 200, adaptive.text)
        XCTAssertEqual(completionText(adaptive.json), try cliText(mode: "ar", tokens: 24))
        let mirrorStats = ((adaptive.json["mirror_sd"] as? [String: Any])?["stats"] as? [String: Any])?["mirror"] as? [String: Any]
        let mean = try XCTUnwrap(mirrorStats?["adaptive_gamma_mean"] as? Double, "no adaptive_gamma_mean in \(adaptive.text)")
        XCTAssertTrue((1...6).contains(mean), "mean window \(mean) outside 1...6")
        XCTAssertEqual(server.stop(), 0)
    }

    func testBadInputGetsSpecificOpenAIErrors() throws {
        try requireModel()
        let server = try ServerProcess(["--ctx", "64", "--max-body-bytes", "4096", "--api-key", "sekrit", "--mode", "ar"])
        let auth = ["Authorization": "Bearer sekrit"]
        func expect(_ body: Data, _ status: Int, _ param: String?, _ words: String, path: String = "/v1/chat/completions",
                    line: UInt = #line) throws {
            let r = try server.request("POST", path, body: body, headers: auth)
            XCTAssertEqual(r.status, status, r.text, line: line)
            let e = try XCTUnwrap(r.json["error"] as? [String: Any], r.text, line: line)
            XCTAssertTrue((e["message"] as? String ?? "").contains(words), "\(e)", line: line)
            XCTAssertNotNil(e["type"] as? String, line: line)
            if let p = param { XCTAssertEqual(e["param"] as? String, p, line: line) }
        }
        func json(_ o: [String: Any]) throws -> Data { try JSONSerialization.data(withJSONObject: o) }
        let user = [["role": "user", "content": "hi"]]
        try expect(Data("{bad".utf8), 400, nil, "not valid JSON")
        try expect(Data("[1,2]".utf8), 400, nil, "JSON object")
        try expect(try json(["messages": "hi"]), 400, "messages", "must be a list")
        try expect(try json(["messages": user, "temperature": "hot"]), 400, "temperature", "must be a number")
        try expect(try json(["messages": user, "max_tokens": 1.5]), 400, "max_tokens", "must be an integer")
        try expect(try json(["messages": user, "seed": 1e30]), 400, "seed", "must be an integer")
        try expect(try json(["messages": user, "temperature": 5]), 400, "temperature", "[0, 2]")
        try expect(try json(["messages": user, "top_p": 0]), 400, "top_p", "(0, 1]")
        try expect(try json(["messages": user, "max_tokens": 0]), 400, "max_tokens", "at least 1")
        try expect(try json(["messages": user, "n": 2]), 400, "n", "must be 1")
        try expect(try json(["messages": user, "stop": ["a", "b", "c", "d", "e"]]), 400, "stop", "at most 4")
        try expect(try json(["messages": [["role": "wizard", "content": "x"]]]), 400, "messages[0].role", "system, user or assistant")
        try expect(try json(["messages": []]), 400, "messages", "at least one")
        try expect(try json(["prompt": "x"]), 400, "prompt", "/v1/completions")
        try expect(try json(["messages": user, "mirror_sd": ["mode": "warp"]]), 400, "mirror_sd.mode", "'mirror_sd.mode' must be one of ar, sd, mirror, got 'warp'")
        try expect(try json(["messages": user, "mirror_sd": ["mode": "sd", "draft": "/etc/passwd"]]), 400, "mirror_sd.draft", "must be one of")
        try expect(try json(["messages": user, "mirror_sd": ["mode": "mirror", "gamma": 99]]), 400, "mirror_sd.gamma", "'mirror_sd.gamma' must be in 1...32, got 99")
        try expect(try json(["messages": user, "mirror_sd": ["mode": "mirror", "gamma": 20]]), 400, "mirror_sd.gamma", "must be in 1...16 for mirror")
        try expect(try json(["messages": user, "mirror_sd": ["mode": "mirror", "warp_speed": 9]]), 400, "mirror_sd.warp_speed", "is not a decoding option (keys: mode, draft, gamma")
        try expect(try json(["messages": user, "mirror_sd": ["mode": "mirror", "kappa": ["a"]]]), 400, "mirror_sd.kappa", "must be")
        try expect(try json(["messages": user, "mirror_sd": ["mode": "mirror", "runner_ups": 9]]), 400, "mirror_sd.runner_ups", "'mirror_sd.runner_ups' must be in 0...gamma+1 (5), got 9")
        try expect(try json(["messages": user, "mirror_sd": ["mode": "mirror", "exit_lens": "/etc/passwd"]]), 400, "mirror_sd.exit_lens", "must be one of auto, none")
        try expect(try json(["messages": user, "mirror_sd": ["mode": "mirror", "adaptive_gamma": "yes"]]), 400, "mirror_sd.adaptive_gamma", "must be true or false, got 'yes'")
        try expect(try json(["messages": user, "mirror_sd": ["mode": "mirror", "branch_budget": 1]]), 400, "mirror_sd.branch_budget", "must be true or false, got 1")
        try expect(try json(["messages": [["role": "user", "content": String(repeating: "word ", count: 200)]]]), 400, "messages",
                   "the context holds 64")
        try expect(Data(String(repeating: " ", count: 5000).utf8), 413, nil, "larger than the 4096 bytes")
        try expect(try json(["messages": user]), 400, "messages", "/v1/chat/completions", path: "/v1/completions")
        try expect(try json(["max_tokens": 4]), 400, "prompt", "required", path: "/v1/completions")
        try expect(try json(["messages": user, "mirror_sd": "fast"]), 400, "mirror_sd", "must be an object")
        try expect(try json(["messages": user, "response_format": ["type": "json_object"]]), 400, "response_format", "not supported")
        try expect(try json(["messages": user, "logprobs": true, "top_logprobs": 21]), 400, "top_logprobs", "0...20")
        try expect(try json(["messages": user, "top_logprobs": 2]), 400, "top_logprobs", "needs 'logprobs': true")
        try expect(try json(["messages": user, "logprobs": 3]), 400, "logprobs", "a boolean in chat")
        try expect(try json(["prompt": "x", "logprobs": 6]), 400, "logprobs", "0...5", path: "/v1/completions")
        try expect(try json(["prompt": "x", "logprobs": true]), 400, "logprobs", "a count in completions", path: "/v1/completions")

        // Authorization: missing or wrong keys are refused; /health needs none.
        let noKey = try server.post("/v1/chat/completions", ["messages": user, "max_tokens": 2])
        XCTAssertEqual(noKey.status, 401)
        XCTAssertEqual((noKey.json["error"] as? [String: Any])?["code"] as? String, "invalid_api_key")
        XCTAssertEqual(try server.post("/v1/chat/completions", ["messages": user], headers: ["Authorization": "Bearer nope"]).status, 401)
        XCTAssertEqual(try server.request("GET", "/v1/models").status, 401)
        XCTAssertEqual(try server.request("GET", "/health").status, 200)
        // After all that, a good request still works.
        let ok = try server.post("/v1/chat/completions", ["messages": user, "max_tokens": 2, "temperature": 0], headers: auth)
        XCTAssertEqual(ok.status, 200, ok.text)
        XCTAssertEqual(server.stop(), 0)
    }

    func testConcurrentClientsAllGetTheSameGreedyAnswer() throws {
        try requireModel()
        let server = try ServerProcess(["--mode", "ar"])
        let body = chat("ar", tokens: 8)
        let expected = try completionText(server.post("/v1/chat/completions", body).json)
        XCTAssertNotNil(expected)
        let data = try JSONSerialization.data(withJSONObject: body)
        // Eight threads, so all eight requests are in flight at once (the server queues seven).
        nonisolated(unsafe) var replies = [ServerProcess.Reply?](repeating: nil, count: 8)
        let lock = NSLock()
        let group = DispatchGroup()
        for i in 0..<8 {
            group.enter()
            Thread {
                let r = try? server.request("POST", "/v1/chat/completions", body: data)
                lock.lock(); replies[i] = r; lock.unlock()
                group.leave()
            }.start()
        }
        group.wait()
        for (i, r) in replies.enumerated() {
            XCTAssertEqual(r?.status, 200, "client \(i): \(r?.text ?? "no reply")")
            XCTAssertEqual(r.flatMap { completionText($0.json) }, expected, "client \(i)")
        }
        XCTAssertEqual(server.stop(), 0)
    }

    func testFullQueueAnswers429AndAHangUpCancelsTheGeneration() throws {
        try requireModel()
        let server = try ServerProcess(["--queue-size", "0", "--mode", "ar", "--parallel", "1"])
        // A long streamed generation holds the only place; once its first event arrives it is admitted.
        let long = try RawClient(port: server.port, path: "/v1/completions",
                                 json: ["prompt": "Once upon a time", "max_tokens": 2000, "temperature": 0, "stream": true])
        let first = long.read(until: "data: ", seconds: 120)
        XCTAssertTrue(first.hasPrefix("HTTP/1.1 200"), first)
        let busy = try server.post("/v1/chat/completions", chat("ar", tokens: 4))
        XCTAssertEqual(busy.status, 429, busy.text)
        XCTAssertNotNil(Int(busy.headers["retry-after"] ?? ""), "\(busy.headers)")
        XCTAssertEqual((busy.json["error"] as? [String: Any])?["code"] as? String, "queue_full")
        // Hang up mid-stream: the generation stops at its next token and frees the queue.
        long.hangUp()
        var next: ServerProcess.Reply?
        for _ in 0..<100 {
            next = try server.post("/v1/chat/completions", chat("ar", tokens: 4))
            if next?.status == 200 { break }
            usleep(100_000)
        }
        XCTAssertEqual(next?.status, 200, next?.text ?? "")
        let metrics = try server.request("GET", "/metrics").text
        XCTAssertTrue(metrics.contains("mirrorsd_generations_cancelled_total 1"), metrics)
        let generated = metrics.split(separator: "\n").first { $0.hasPrefix("mirrorsd_completion_tokens_total ") }
        let total = generated.flatMap { Int($0.split(separator: " ")[1]) } ?? -1
        XCTAssertLessThan(total, 2000, "the cancelled generation ran on to its limit")
        XCTAssertEqual(server.stop(), 0)
    }

    func testSIGTERMFinishesTheRequestInFlightThenExitsZero() throws {
        try requireModel()
        let server = try ServerProcess(["--mode", "mirror"])
        let client = try RawClient(port: server.port, path: "/v1/chat/completions", json: chat("mirror", tokens: 48, stream: true))
        let first = client.read(until: "\"content\":\"", seconds: 120)
        XCTAssertTrue(first.contains("data: "), first)
        kill(server.process.processIdentifier, SIGTERM)
        let rest = client.read(until: "data: [DONE]", seconds: 300)
        client.hangUp()
        let s = try streamedText(RawClient.body(first + rest))
        XCTAssertTrue(s.done, "the in-flight stream was cut: \(String(decoding: Array(rest.utf8).suffix(300), as: UTF8.self))")
        XCTAssertEqual(s.finish, "length")
        XCTAssertEqual(server.stop(), 0)
        XCTAssertTrue(server.stderr.contains("stopped"), server.stderr)
    }
}
