import Foundation
import GGUF
import TestSupport
import Tokenizer
import XCTest

/// llama.cpp's own tokenizer test vectors (test-tokenizer-0: no BOS, special tokens not parsed),
/// fetched by models/fetch-vocabs.sh.
final class LlamaCppVocabTests: XCTestCase {
    func vectors(_ name: String) throws -> (Tokenizer, [(String, [Int32])]) {
        let dir = Paths.models.appendingPathComponent("vocab")
        let gguf = dir.appendingPathComponent("ggml-vocab-\(name).gguf").path
        guard FileManager.default.fileExists(atPath: gguf) else {
            if ProcessInfo.processInfo.environment["MIRRORSD_SKIP_MODEL_TESTS"] == "1" { throw XCTSkip("no vocab fixtures") }
            XCTFail("models/vocab/ggml-vocab-\(name).gguf is missing: run models/fetch-vocabs.sh")
            throw XCTSkip("missing")
        }
        let inp = try String(contentsOfFile: gguf + ".inp", encoding: .utf8).components(separatedBy: "\n__ggml_vocab_test__\n")
        let out = try String(contentsOfFile: gguf + ".out", encoding: .utf8).components(separatedBy: "\n")
        let cases = Array(inp.dropLast())  // the file ends with a separator
        XCTAssertEqual(cases.count, out.count - 1)
        let ids = out.prefix(cases.count).map { $0.split(separator: " ").map { Int32($0)! } }
        return (try Tokenizer(file: GGUFFile(path: gguf)), Array(zip(cases, ids)))
    }

    func check(_ name: String) throws {
        let (tok, cases) = try vectors(name)
        var passed = 0
        for (text, want) in cases {
            let got = tok.encode(text, parseSpecial: false, addBOS: false)
            if got == want { passed += 1 } else { XCTFail("\(name): \(text.debugDescription): got \(got), want \(want)") }
        }
        print("\(name): \(passed)/\(cases.count) llama.cpp vectors pass")
        XCTAssertEqual(passed, cases.count)
    }

    func testSentencePieceVocabulary() throws { try check("llama-spm") }
    func testGPT2Vocabulary() throws { try check("gpt-2") }
}
