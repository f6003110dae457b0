import BackendBLAS
import Foundation
import Generation
import GGUF
import Llama
import TestSupport
import Tokenizer
import XCTest

/// The plain generation loop reproduces the golden greedy ids of SmolLM2.
final class GreedyGenerationTests: XCTestCase {
    func testGeneratorReproducesGoldenGreedyIds() throws {
        let path: String
        do { path = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
        let file = try GGUFFile(path: path)
        let tok = try Tokenizer(file: file)
        let model = try LlamaModel(file: file, backend: BLASBackend(threads: 1))
        let golden = try Paths.json(Paths.golden.appendingPathComponent("smollm2-135m-instruct.reference.json")) as! [String: Any]
        for p in golden["prompts"] as! [[String: Any]] {
            let gen = Generator(model: model.makeSession(maxContext: 256), tokenizer: tok)
            let prompt = tok.encode(p["prompt"] as! String, parseSpecial: true)
            let r = try gen.generate(prompt: prompt, options: GenerationOptions(maxTokens: 24, stopAtEOS: false))
            XCTAssertEqual(r.tokens, (p["greedy_ids"] as! [Int]).map(Int32.init))
            XCTAssertEqual(r.text, try tok.decode(r.tokens))
            XCTAssertEqual(r.stopReason, .maxTokens)
            XCTAssertEqual(r.stats.generatedTokens, 24)
        }
    }
}
