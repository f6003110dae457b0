import Foundation
import GGUF
import TestSupport
import Tokenizer
import XCTest

/// Tokenizations llama.cpp gives for SmolLM2 (byte-level BPE, `smollm` pre-tokenizer).
final class GoldenTokenizationTests: XCTestCase {
    nonisolated(unsafe) static var cached: Tokenizer?

    func tokenizer() throws -> Tokenizer {
        do { _ = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
        if let t = Self.cached { return t }
        let t = try Tokenizer(file: GGUFFile(path: Paths.defaultModel))
        Self.cached = t
        return t
    }

    func testReferenceFileCases() throws {
        let tok = try tokenizer()
        let golden = try Paths.json(Paths.golden.appendingPathComponent("smollm2-135m-instruct.reference.json")) as! [String: Any]
        let cases = golden["tokenize"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        for c in cases {
            let text = c["text"] as! String
            let want = (c["ids"] as! [Int]).map(Int32.init)
            XCTAssertEqual(tok.encode(text), want, "\(text.prefix(60))")
            XCTAssertEqual(try tok.decode(tok.encode(text)), text, "round trip \(text.prefix(60))")
        }
        for p in golden["prompts"] as! [[String: Any]] {
            let text = p["prompt"] as! String
            XCTAssertEqual(tok.encode(text, parseSpecial: true), (p["prompt_ids"] as! [Int]).map(Int32.init), text)
        }
    }

    func testLlamaCppFileCases() throws {
        let tok = try tokenizer()
        let golden = try Paths.json(Paths.golden.appendingPathComponent("smollm2-135m-instruct.llamacpp.json")) as! [String: Any]
        for (text, ids) in golden["tokenize"] as! [String: [Int]] {
            XCTAssertEqual(tok.encode(text), ids.map(Int32.init), text)
            XCTAssertEqual(try tok.decode(tok.encode(text)), text)
        }
        for (text, ids) in golden["tokenize_special"] as! [String: [Int]] {
            XCTAssertEqual(tok.encode(text, parseSpecial: true), ids.map(Int32.init), text)
            XCTAssertEqual(try tok.decode(ids.map(Int32.init), special: true), text)
        }
        let g = golden["greedy"] as! [String: Any]
        XCTAssertEqual(tok.encode(g["prompt"] as! String), (g["prompt_ids"] as! [Int]).map(Int32.init))
        let completion = (g["completion_ids"] as! [Int]).map(Int32.init)
        XCTAssertEqual(try tok.decode(completion), g["completion_text"] as! String)
    }

    func testStreamingDecodeHoldsPartialUTF8() throws {
        let tok = try tokenizer()
        for text in ["emoji 🙂👍🏽 ok", "日本語のテキスト", "naïve café — déjà vu"] {
            var stream = StreamDecoder(tokenizer: tok)
            var out = ""
            for id in tok.encode(text) {
                let piece = try stream.push(id)
                XCTAssertFalse(piece.unicodeScalars.contains("\u{FFFD}"), "partial character printed for \(text)")
                out += piece
            }
            out += stream.finish()
            XCTAssertEqual(out, text)
        }
    }

    func testSpecBenchPromptsRoundTrip() throws {
        let tok = try tokenizer()
        let lines = try String(contentsOf: Paths.specBenchQuestions, encoding: .utf8)
            .split(separator: "\n")
        var checked = 0
        for (i, line) in lines.enumerated() where i % 10 == 0 {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            for turn in obj["turns"] as! [String] {
                XCTAssertEqual(try tok.decode(tok.encode(turn)), turn)
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 40)
    }

    func testChatTemplateRendersChatMLWithTheDefaultSystemMessage() throws {
        let f = try GGUFFile(path: try Paths.requireModel())
        let t = try ChatTemplate(template: try f.string("tokenizer.chat_template"))
        XCTAssertEqual(t.defaultSystem, "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        XCTAssertEqual(t.render([.init(role: "user", content: "Hi")], useDefaultSystem: false),
                       "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertTrue(t.render([.init(role: "user", content: "Hi")]).hasPrefix("<|im_start|>system\nYou are a helpful"))
        XCTAssertEqual(t.render([.init(role: "system", content: "S"), .init(role: "user", content: "U")], addGenerationPrompt: false),
                       "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n")
        XCTAssertThrowsError(try ChatTemplate(template: "{{ bos_token }}[INST] {{ m }} [/INST]"))
        XCTAssertThrowsError(try ChatTemplate(template: nil))
    }

    /// Inputs the fuzzer (tools/fuzz) found crashing, kept in Tests/Fixtures/fuzz: each must now encode
    /// and decode without trapping.
    func testFuzzFindingsNoLongerCrash() throws {
        let tok = try tokenizer()
        let dir = Paths.packageRoot.appendingPathComponent("Tests/Fixtures/fuzz")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("tokenizer-") }
        XCTAssertFalse(files.isEmpty)
        for name in files {
            let bytes = try Data(contentsOf: dir.appendingPathComponent(name))
            let text = String(decoding: bytes, as: UTF8.self)
            for special in [false, true] {
                let ids = tok.encode(text, parseSpecial: special)
                XCTAssertFalse(ids.isEmpty, name)
                _ = try tok.decode(ids)
            }
        }
        // The first finding: bytes the vocabulary has no token for (0x06, 0x00) inside a word are
        // dropped, and the letters around them still tokenize.
        let ids = tok.encode("Hel\u{06}\u{00}\u{00}orld")
        XCTAssertTrue(try tok.decode(ids).hasPrefix("Hel"), "\(ids)")
    }
}
