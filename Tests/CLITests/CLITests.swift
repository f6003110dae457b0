import Foundation
import GGUF
import TensorCore
import TestSupport
import XCTest

/// Runs the built `mirror-sd` binary and checks stdout, stderr and exit codes.
final class CLITests: XCTestCase {
    struct Run { var status: Int32; var out: String; var err: String }

    /// The binary SwiftPM built next to this test bundle.
    static var binary: URL {
        let bundle = Bundle(for: CLITests.self).bundleURL
        let candidates = [bundle.appendingPathComponent("mirror-sd"),
                          bundle.deletingLastPathComponent().appendingPathComponent("mirror-sd"),
                          Paths.packageRoot.appendingPathComponent(".build/debug/mirror-sd")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    func run(_ args: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> Run {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = args
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        p.currentDirectoryURL = Paths.packageRoot
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let s = stdin { input.fileHandleForWriting.write(s.data(using: .utf8)!) }
        input.fileHandleForWriting.closeFile()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }

    func requireModel() throws {
        do { _ = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
    }

    func assertFails(_ args: [String], stdin: String? = nil, saying message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try run(args, stdin: stdin)
        XCTAssertNotEqual(r.status, 0, "\(args) should fail", file: file, line: line)
        XCTAssertTrue(r.err.contains(message), "\(args): stderr was: \(r.err)", file: file, line: line)
    }

    func testHelpListsTheSubcommands() throws {
        let r = try run(["--help"])
        XCTAssertEqual(r.status, 0)
        for c in ["generate", "tokenize", "inspect", "bench-decode"] { XCTAssertTrue(r.out.contains(c), c) }
    }

    func testGreedyCLIReproducesGoldenIds() throws {
        try requireModel()
        let golden = try Paths.json(Paths.golden.appendingPathComponent("smollm2-135m-instruct.reference.json")) as! [String: Any]
        for p in golden["prompts"] as! [[String: Any]] {
            let r = try run(["generate", "--prompt", p["prompt"] as! String, "--parse-special", "-n", "24", "--ignore-eos", "--json"])
            XCTAssertEqual(r.status, 0, r.err)
            let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
            XCTAssertEqual(obj["tokens"] as? [Int], p["greedy_ids"] as? [Int])
            XCTAssertEqual(obj["prompt_tokens"] as? Int, (p["prompt_ids"] as! [Int]).count)
        }
    }

    func testChatFlagRendersTheTemplate() throws {
        try requireModel()
        // The golden chat prompt without the default system message.
        let r = try run(["generate", "--chat", "--no-system", "--prompt", "What is the capital of France?", "-n", "8", "--json"])
        XCTAssertEqual(r.status, 0, r.err)
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        XCTAssertEqual(obj["tokens"] as? [Int], [504, 3575, 282, 4649, 314, 7042, 30])  // "The capital of France is Paris." then EOS
        XCTAssertEqual(obj["stop_reason"] as? String, "eos")
    }

    func testSeededSampledRunRepeatsExactly() throws {
        try requireModel()
        let args = ["generate", "--prompt", "Once upon a time", "-n", "16", "--temp", "0.9", "--top-p", "0.95", "--seed", "5", "--json"]
        let a = try run(args), b = try run(args)
        XCTAssertEqual(a.status, 0, a.err)
        let ta = (try JSONSerialization.jsonObject(with: Data(a.out.utf8)) as! [String: Any])["tokens"] as? [Int]
        let tb = (try JSONSerialization.jsonObject(with: Data(b.out.utf8)) as! [String: Any])["tokens"] as? [Int]
        XCTAssertEqual(ta, tb)
        XCTAssertEqual(ta?.count, 16)
    }

    func testTokenizeMatchesGolden() throws {
        try requireModel()
        let r = try run(["tokenize", "3.14159 and 2024"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out.trimmingCharacters(in: .whitespacesAndNewlines), "35 30 33 36 33 37 41 284 216 34 32 34 36")
    }

    func testBadInputGivesSpecificErrorsAndNonZeroExit() throws {
        let tmp = FileManager.default.temporaryDirectory
        try assertFails(["generate", "--model", "/nonexistent/m.gguf", "--prompt", "hi"], saying: "not found")
        let corrupt = tmp.appendingPathComponent("corrupt-\(getpid()).gguf")
        try Data("GGUF\u{3}\0\0\0garbage".utf8).write(to: corrupt)
        defer { try? FileManager.default.removeItem(at: corrupt) }
        try assertFails(["generate", "--model", corrupt.path, "--prompt", "hi"], saying: "GGUF truncated")
        let notGGUF = tmp.appendingPathComponent("notgguf-\(getpid()).gguf")
        try Data("hello world, not a model".utf8).write(to: notGGUF)
        defer { try? FileManager.default.removeItem(at: notGGUF) }
        try assertFails(["inspect", notGGUF.path], saying: "not a GGUF file")
        try assertFails(["generate", "-n", "0", "--prompt", "hi"], saying: "-n must be at least 1")
        try assertFails(["generate", "--temp=-1", "--prompt", "hi"], saying: "temperature")
        try assertFails(["generate", "--temp", "nan", "--prompt", "hi"], saying: "temperature")
        try assertFails(["generate", "--top-p", "1.5", "--prompt", "hi"], saying: "top-p")
        try assertFails(["generate", "--min-p=-0.5", "--prompt", "hi"], saying: "min-p")
        try requireModel()
        try assertFails(["generate", "--prompt", ""], saying: "the prompt is empty")
        try assertFails(["generate"], stdin: "", saying: "the prompt is empty")
        let bad = tmp.appendingPathComponent("bad-\(getpid()).txt")
        try Data([0x68, 0x69, 0xFF, 0xFE]).write(to: bad)
        defer { try? FileManager.default.removeItem(at: bad) }
        try assertFails(["generate", "--prompt-file", bad.path], saying: "not valid UTF-8")
        try assertFails(["generate", "--ctx", "8", "--prompt", String(repeating: "word ", count: 20)], saying: "context holds 8")
    }

    func testContextFullStopsCleanly() throws {
        try requireModel()
        let r = try run(["generate", "--ctx", "12", "--prompt", "Once upon a time", "-n", "100", "--ignore-eos"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("context of 12 tokens is full"), r.err)
    }
}

extension CLITests {
    func testQuantizeKeepsMetadataAndLoads() throws {
        let tmp = FileManager.default.temporaryDirectory
        let src = tmp.appendingPathComponent("tiny-f32-\(getpid()).gguf"), dst = tmp.appendingPathComponent("tiny-q8-\(getpid()).gguf")
        defer { try? FileManager.default.removeItem(at: src); try? FileManager.default.removeItem(at: dst) }
        try Data(TinyLlama.gguf()).write(to: src)
        let r = try run(["quantize", src.path, dst.path])
        XCTAssertEqual(r.status, 0, r.err)
        let a = try GGUFFile(path: src.path), b = try GGUFFile(path: dst.path)
        for k in a.keys where k != "general.file_type" { XCTAssertEqual(a.metadata[k], b.metadata[k], k) }
        XCTAssertEqual(b.metadata["general.file_type"], .uint32(7))
        XCTAssertEqual(b.tensor(named: "blk.0.attn_q.weight")?.type, .q8_0)
        XCTAssertEqual(b.tensor(named: "blk.0.attn_norm.weight")?.type, .f32)
        try assertFails(["quantize", src.path, dst.path], saying: "exists")
        try assertFails(["quantize", src.path, dst.path, "--type", "q5_0", "--force"], saying: "--type must be q8_0, q4_0 or q4_1")
        // 4-bit copies: the type and file type llama.cpp expects, and they generate.
        for (type, ggml, fileType) in [("q4_0", GGMLType.q4_0, UInt32(2)), ("q4_1", .q4_1, 3)] {
            let r4 = try run(["quantize", src.path, dst.path, "--type", type, "--force"])
            XCTAssertEqual(r4.status, 0, r4.err)
            let q = try GGUFFile(path: dst.path)
            XCTAssertEqual(q.metadata["general.file_type"], .uint32(fileType))
            XCTAssertEqual(q.tensor(named: "blk.0.ffn_down.weight")?.type, ggml)
            // Bytes exactly as ggml's reference quantizer writes them.
            let info = a.tensor(named: "blk.0.ffn_down.weight")!
            let floats = try Dequantize.toFloatBuffer(info, bytes: a.bytes(of: info))
            XCTAssertEqual(Array(q.bytes(of: q.tensor(named: info.name)!)), Dequantize.quantize(UnsafeBufferPointer(floats.buffer), to: ggml))
        }
    }
}

extension CLITests {
    func testMismatchedDraftIsRefusedNamingTheDifference() throws {
        try requireModel()
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("tiny-draft-\(getpid()).gguf")
        defer { try? FileManager.default.removeItem(at: tmp) }
        try Data(TinyLlama.gguf()).write(to: tmp)
        try assertFails(["generate", "--mode", "sd", "--draft", tmp.path, "--prompt", "hi"],
                        saying: "draft and target vocabularies differ: the target has 49152 tokens, the draft 96")
        try assertFails(["generate", "--draft", tmp.path, "--prompt", "hi"], saying: "--draft needs --mode sd or mirror")
        try assertFails(["generate", "--mode", "sd", "--gamma", "0", "--prompt", "hi"], saying: "--gamma must be in 1...32")
    }

    func testSpeculativeCLIMatchesAR() throws {
        try requireModel()
        let args = ["generate", "--prompt", "The three primary colors are", "-n", "16", "--ignore-eos", "--json"]
        let ar = try run(args), sd = try run(args + ["--mode", "sd", "--gamma", "3"])
        XCTAssertEqual(sd.status, 0, sd.err)
        let a = try JSONSerialization.jsonObject(with: Data(ar.out.utf8)) as! [String: Any]
        let s = try JSONSerialization.jsonObject(with: Data(sd.out.utf8)) as! [String: Any]
        XCTAssertEqual(a["tokens"] as? [Int], s["tokens"] as? [Int])
        let spec = (s["stats"] as! [String: Any])["speculative"] as! [String: Any]
        XCTAssertNotNil(spec["tokens_per_target_step"])
        // Mirror-SD on the real model, two settings: the same tokens again.
        for extra in [["--kappa", "2"], ["--kappa", "1", "--exit-layer", "15", "--fallback", "step", "--draft", "lookup"]] {
            let m = try run(args + ["--mode", "mirror", "--gamma", "3"] + extra)
            XCTAssertEqual(m.status, 0, m.err)
            let j = try JSONSerialization.jsonObject(with: Data(m.out.utf8)) as! [String: Any]
            XCTAssertEqual(j["tokens"] as? [Int], a["tokens"] as? [Int], "mirror \(extra)")
            XCTAssertNotNil((j["stats"] as! [String: Any])["mirror"])
        }
        // Quantized targets: every mode equals AR in the same compute format (a format changes the
        // model's numbers, so AR in that format is the reference).
        // An fp16 KV cache (the server's) is another set of numbers with the same invariant.
        for (target, draft, kv) in [("native", "q4_0", "f32"), ("q4_1", "q8_0", "f32"), ("native", "q4_0", "f16")] {
            let base = args + ["--target-type", target, "--draft-type", draft, "--kv-cache", kv]
            let arQ = try run(base)
            XCTAssertEqual(arQ.status, 0, arQ.err)
            let want = (try JSONSerialization.jsonObject(with: Data(arQ.out.utf8)) as! [String: Any])["tokens"] as? [Int]
            XCTAssertNotNil(want)
            for mode in [["--mode", "sd", "--gamma", "3"], ["--mode", "mirror", "--gamma", "3"]] {
                let r = try run(base + mode)
                XCTAssertEqual(r.status, 0, r.err)
                let j = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
                XCTAssertEqual(j["tokens"] as? [Int], want, "\(target) target, \(kv) KV cache, \(draft) draft, \(mode)")
                XCTAssertEqual(j["backend"] as? String, target)
                XCTAssertEqual(j["kv_cache"] as? String, kv)
            }
            if target == "native" && kv == "f32" {  // the preset is Mirror-SD on the native formats: the same tokens
                let r = try run(args + ["--preset", "q4-mirror"])
                XCTAssertEqual(r.status, 0, r.err)
                let j = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
                XCTAssertEqual(j["tokens"] as? [Int], want, "--preset q4-mirror")
                XCTAssertEqual(j["mode"] as? String, "mirror")
            }
        }
        try assertFails(args + ["--preset", "fastest"], saying: "unknown preset 'fastest' (presets: q4-fast, q4-mirror, fp32-mirror)")
    }
}

extension CLITests {
    func testBenchRunsTwoPromptsInTwoModesWithAConsistentReport() throws {
        try requireModel()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try run(["bench", "--per-category", "1", "--categories", "qa,translation", "--max-tokens", "6", "--modes", "ar,sd",
                         "--draft", "lookup", "--out", dir.path])
        XCTAssertEqual(r.status, 0, r.err)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("bench.json"))) as! [String: Any]
        let prompts = report["prompts"] as! [[String: Any]]
        XCTAssertEqual(prompts.count, 2)
        func tps(_ p: [String: Any], _ m: String) -> Double {
            let run = (p["runs"] as! [String: Any])[m] as! [String: Any]
            return Double((run["tokens"] as! [Int]).count) / (run["seconds"] as! Double)
        }
        let meanAR = prompts.map { tps($0, "ar") }.reduce(0, +) / 2, meanSD = prompts.map { tps($0, "sd") }.reduce(0, +) / 2
        let overall = report["overall"] as! [[String: Any]]
        XCTAssertEqual(overall[1]["speedup"] as! Double, meanSD / meanAR, accuracy: 1e-9)
        XCTAssertEqual(overall[1]["equalToBaseline"] as? Int, 2, "greedy SD must reproduce AR")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("bench-speedup.svg").path))
        XCTAssertTrue(r.out.contains("| overall | sd | 2 |"))
    }

    /// Each suffix of a method name is checked, and a wrong one names the method and the rule.
    func testBenchRefusesBadMethodSuffixes() throws {
        try requireModel()
        let base = ["bench", "--per-category", "1", "--categories", "qa", "--max-tokens", "2"]
        try assertFails(base + ["--modes", "ar,mirror#0"], saying: "'mirror#0' in --modes: exit-layer (#N) must be in 1...4096, got 0")
        try assertFails(base + ["--modes", "ar,mirror#x"], saying: "'mirror#x' in --modes: exit-layer (#N) must be an integer, got 'x'")
        try assertFails(base + ["--modes", "ar,mirror#30"], saying: "'mirror#30': --exit-layer must be below the target's 30 layers, got 30")
        try assertFails(base + ["--modes", "ar,sd#15", "--draft", "lookup"], saying: "'sd#15' in --modes: exit-layer (#N) is for mirror methods")
        try assertFails(base + ["--modes", "ar,mirror^-1"], saying: "'mirror^-1' in --modes: kappa (^N) must be in 0...16, got -1")
        try assertFails(base + ["--modes", "ar,sd!raw", "--draft", "lookup"], saying: "'sd!raw' in --modes: exit-lens (!raw) is for mirror methods")
        try assertFails(base + ["--modes", "ar,mirror!fast"], saying: "'mirror!fast' in --modes: !fast is not a bench flag (flags: !lookup, !nobonus, !adaptive, !nobudget, !raw)")
        try assertFails(base + ["--modes", "ar,fast"], saying: "unknown method 'fast' in --modes")
    }
}

extension CLITests {
    /// The shipped drafts load, pass pair validation against the target, and keep their held-out
    /// agreement: 6 held-out prompts (1 per task), answers of 32 tokens. Measured at commit time
    /// (release build): small 0.373, large 0.389, small+lookup 0.465, large+lookup 0.470. The band is
    /// ±0.07: wide enough for a different summation order to flip a near-tie, far narrower than the gap
    /// to a broken or untrained draft (≤ 0.06 here).
    func testShippedDraftsLoadValidateAndKeepTheirHeldOutAgreement() throws {
        try requireModel()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("eval-draft-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: out) }
        let expected = ["small": 0.373, "large": 0.389, "small+lookup": 0.465, "large+lookup": 0.470]
        let r = try run(["eval-draft", "--per-category", "1", "--max-tokens", "32", "--gammas", "4",
                         "--drafts", "small,large,small+lookup,large+lookup", "--json", out.path])
        XCTAssertEqual(r.status, 0, r.err)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as! [String: Any]
        let rows = (report["rows"] as! [[String: Any]]).filter { $0["task"] as? String == "ALL" }
        XCTAssertEqual(Set(rows.map { $0["draft"] as! String }), Set(expected.keys))
        for row in rows {
            let name = row["draft"] as! String, top1 = row["top1"] as! Double
            XCTAssertEqual(top1, expected[name]!, accuracy: 0.07, "\(name): held-out top-1 \(top1)")
            XCTAssertGreaterThan(row["tokens_per_step_gamma4"] as! Double, 1.3, name)
        }
        let costs = report["costs"] as! [[String: Any]]
        for c in costs { XCTAssertLessThan(c["macs_relative"] as! Double, 0.15, "\(c)") }
    }

    /// The shipped exit lens keeps its held-out hit rate (measured by the engine, not the training
    /// script), well above the raw logit lens; lens files that do not fit are refused.
    func testShippedExitLensKeepsItsHeldOutHitRate() throws {
        try requireModel()
        let lens = Paths.models.appendingPathComponent("lenses/smollm2-135m-instruct.lens.gguf").path
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("eval-lens-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try run(["eval-lens", "--lens", lens, "--layers", "26", "--per-category", "1", "--max-tokens", "32", "--json", out.path])
        XCTAssertEqual(r.status, 0, r.err)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as! [String: Any]
        let rows = report["rows"] as! [[String: Any]]
        func omega4(_ proxy: String) -> Double { (rows.first { $0["proxy"] as? String == proxy }!["omega"] as! [Double])[2] }
        // At the default exit layer, measured 0.903 (lens v3, 2026-12-05) and 0.519 (raw) in a release build on these
        // 6 prompts × 32 tokens (README, "Exit lenses"). The band is ± 0.05: one position of 185 is 0.005, and a
        // retrained lens that moved Ω_4 by more than that should update this figure on purpose.
        XCTAssertEqual(omega4("lens"), 0.903, accuracy: 0.05, "held-out Ω_4 at layer 26 through the lens")
        XCTAssertGreaterThan(omega4("lens"), omega4("raw") + 0.15, "the lens must beat the raw logit lens")
        try assertFails(["eval-lens", "--lens", Paths.defaultModel], saying: "is not an exit-lens file")
        let args = ["generate", "--mode", "mirror", "--draft", "lookup", "--prompt", "Name a color.", "-n", "4"]
        try assertFails(args + ["--exit-lens", "/nonexistent.gguf"], saying: "exit-lens file '/nonexistent.gguf' not found")
        try assertFails(args + ["--exit-lens", lens, "--exit-layer", "21"], saying: "has no lens for layer 21")
        let j = try run(args + ["--json"])
        XCTAssertEqual(j.status, 0, j.err)
        XCTAssertTrue(j.out.contains("smollm2-135m-instruct.lens.gguf"), "the default (auto) picks the shipped lens: \(j.out)")
    }

    func testDraftNamesResolveAndBadOnesAreClear() throws {
        try requireModel()
        let args = ["generate", "--prompt", "Name a color.", "-n", "4", "--ignore-eos", "--json"]
        for (mode, draft, name) in [("sd", nil, "self"), ("mirror", nil, "self"), ("sd", "small+lookup", "small+lookup"),
                                    ("mirror", "large", "large")] {
            let r = try run(args + ["--mode", mode] + (draft.map { ["--draft", $0] } ?? []))
            XCTAssertEqual(r.status, 0, r.err)
            let j = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
            XCTAssertEqual(j["draft"] as? String, name, mode)
        }
        try assertFails(args + ["--mode", "sd", "--draft", "medium"], saying: "draft file 'medium' not found")
        try assertFails(args + ["--mode", "sd", "--draft", "lookup+lookup"], saying: "lookup+lookup is just 'lookup'")
    }

    /// A feature draft named by path: serial SD runs it (greedy output equal to ar's), eval-draft measures its
    /// windows with SD, and Mirror-SD refuses it with the reason. A random one for SmolLM2, with SmolLM2's
    /// tokenizer keys so pair validation passes; one made for another target is refused by its fingerprint.
    func testAFeatureDraftRunsWithSDAndIsRefusedByMirror() throws {
        try requireModel()
        let target = try GGUFFile(path: Paths.defaultModel)
        let fp = try run(["inspect", Paths.defaultModel]).out.split(separator: "\n")
            .first { $0.contains("fingerprint: ") }.map { String($0.split(separator: " ").last!) }
        let fingerprint = try XCTUnwrap(fp, "inspect prints the fingerprint")
        var c = TinyLlama.defaultConfig
        c.layers = 1
        c.dim = 576
        c.heads = 9
        c.kvHeads = 3
        c.headDim = 64
        c.vocabSize = 49152
        let tokenizerKeys = target.metadata.filter { $0.key.hasPrefix("tokenizer.") }
        let dir = FileManager.default.temporaryDirectory
        let path = dir.appendingPathComponent("feature-draft-\(getpid()).gguf").path
        let other = dir.appendingPathComponent("feature-draft-other-\(getpid()).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: other) }
        try Data(TinyLlama.gguf(config: c, seed: 3, featureDraftFor: fingerprint, metadata: tokenizerKeys)).write(to: URL(fileURLWithPath: path))
        try Data(TinyLlama.gguf(config: c, seed: 3, featureDraftFor: "fnv1a64:0", metadata: tokenizerKeys)).write(to: URL(fileURLWithPath: other))

        let args = ["generate", "--chat", "--prompt", "Name three colors.", "-n", "12", "--ignore-eos", "--json"]
        let ar = try run(args + ["--mode", "ar"])
        XCTAssertEqual(ar.status, 0, ar.err)
        for draft in [path, path + "+lookup"] {
            let sd = try run(args + ["--mode", "sd", "--draft", draft])
            XCTAssertEqual(sd.status, 0, sd.err)
            func ids(_ out: String) throws -> [Int] {
                (try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any])["tokens"] as! [Int]
            }
            XCTAssertEqual(try ids(sd.out), try ids(ar.out), draft)
        }
        try assertFails(args + ["--mode", "mirror", "--draft", path],
                        saying: "reads the target's hidden states, which Mirror-SD's concurrent draft does not receive yet; use --mode sd")
        try assertFails(args + ["--mode", "sd", "--draft", other], saying: "(fingerprint fnv1a64:0), not of this target")
        try assertFails(["bench", "--per-category", "1", "--categories", "qa", "--max-tokens", "2", "--modes", "ar,mirror@\(path)"],
                        saying: "reads the target's hidden states")
        let e = try run(["eval-draft", "--drafts", path, "--per-category", "1", "--categories", "qa", "--max-tokens", "8", "--gammas", "1,4"])
        XCTAssertEqual(e.status, 0, e.err)
        XCTAssertTrue(e.out.contains("| qa |"), e.out)
    }

    func testLimitsHoldAndCorruptWeightsAreRefused() throws {
        try requireModel()
        try assertFails(["generate", "--ctx", "1000000", "--prompt", "hi"], saying: "exceeds the 8192 positions the model was trained for")
        try assertFails(["generate", "--threads", "1000", "--prompt", "hi"], saying: "exceeds the")
        try assertFails(["bench-decode", "--threads", "1,999", "--no-probe"], saying: "--threads 999 exceeds the")
        // The tensor data overwritten with 0xff bytes: NaN scales and weights, refused at load, naming a tensor.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: Paths.defaultModel))
        let tail = 40_000_000
        bytes.replaceSubrange((bytes.count - tail)..<bytes.count, with: Data(repeating: 0xff, count: tail))
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("mirrorsd-nan-\(getpid()).gguf")
        try bytes.write(to: bad)
        defer { try? FileManager.default.removeItem(at: bad) }
        for backend in ["blas", "int8", "native"] {
            try assertFails(["generate", "-m", bad.path, "--backend", backend, "-n", "4", "--prompt", "hi"], saying: "holds a non-finite value")
        }
    }

    /// Heap allocations on the per-token path, counted by the preloaded shim in tools/alloc: zero in the
    /// forward passes of every backend; the decoders may only grow their result buffers (amortized
    /// doubling: a handful over a whole request, never one per token). The decoders are counted on the
    /// fp32 target (with the int8 draft): their code is the same whatever the target's backend, and an
    /// unoptimized build takes minutes per backend for them.
    func testPerTokenPathAllocatesNothing() throws {
        try requireModel()
        let shim = FileManager.default.temporaryDirectory.appendingPathComponent("libmsd-alloccount-\(getpid()).so")
        defer { try? FileManager.default.removeItem(at: shim) }
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-O2", "-shared", "-fPIC", "-o", shim.path,
                        Paths.packageRoot.appendingPathComponent("tools/alloc/alloccount.c").path]
        try cc.run()
        cc.waitUntilExit()
        XCTAssertEqual(cc.terminationStatus, 0, "building the allocation counter with cc")
        try assertFails(["count-allocations"], saying: "the allocation counter is not loaded")
        for backend in ["blas", "int8", "native"] {
            let decoders = backend == "blas"
            let r = try run(["count-allocations", "--backend", backend, "--tokens", "32", "--json"] + (decoders ? [] : ["--forwards-only"]),
                            environment: ["LD_PRELOAD": shim.path])
            XCTAssertEqual(r.status, 0, r.err)
            let j = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
            XCTAssertEqual(j["decodeForwardPerToken"] as? Double, 0, "\(backend): decode forward allocates")
            XCTAssertEqual(j["verifyForwardPerRound"] as? Double, 0, "\(backend): verification forward allocates")
            for mode in ["ar", "sd", "mirror", "mirrorRunnerUps", "batch", "batchDraft"] where decoders {
                guard let perToken = j["\(mode)PerToken"] as? Double else { XCTFail("\(backend): no \(mode) count in \(r.out)"); continue }
                // 32 more tokens: growth of the token array, the text and the committed sequence, at most
                // a few doublings each.
                XCTAssertLessThanOrEqual(perToken * 32, 6, "\(backend) \(mode): \(perToken) allocations per token")
            }
            print("allocations (\(backend)): \(r.out)")
        }
    }
}
