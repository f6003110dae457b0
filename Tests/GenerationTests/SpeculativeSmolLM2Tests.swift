import BackendBLAS
import BackendInt8
import Generation
import GGUF
import Llama
import TestSupport
import Tokenizer
import XCTest

/// Greedy SD on the real model: SmolLM2 (fp32) verifying SmolLM2 (int8) and a random-weight draft.
final class SpeculativeSmolLM2Tests: XCTestCase {
    func testGreedySDEqualsPlainGreedy() throws {
        let path: String
        do { path = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
        let file = try GGUFFile(path: path)
        let tok = try Tokenizer(file: file)
        let target = try LlamaModel(file: file, backend: BLASBackend(threads: 1))
        let selfDraft = try LlamaModel(file: file, backend: Int8Backend())
        var config = TinyLlama.defaultConfig
        config.vocabSize = target.config.vocabSize
        config.layers = 1
        let randomDraft = try LlamaModel(file: GGUFFile(bytes: TinyLlama.gguf(config: config, seed: 9)), backend: Int8Backend())
        let prompt = tok.encode("<|im_start|>user\nName three colors.<|im_end|>\n<|im_start|>assistant\n", parseSpecial: true)
        let n = 24
        let options = GenerationOptions(maxTokens: n, stopAtEOS: false)
        let oneToken = try Generator(model: target.makeSession(maxContext: 256), tokenizer: tok).generate(prompt: prompt, options: options).tokens
        // Plain decoding through the multi-row verification path: a draft that never agrees makes every
        // step verify γ+1 rows and keep the target's own token from the first.
        for gamma in [1, 2, 4, 8] {
            let spec = try SpeculativeOptions(gamma: gamma)
            let viaVerify = try SerialSpeculativeDecoder(target: target.makeSession(maxContext: 256), draft: randomDraft.makeSession(maxContext: 256),
                                                         tokenizer: tok).generate(prompt: prompt, options: options, speculative: spec)
            let sd = try SerialSpeculativeDecoder(target: target.makeSession(maxContext: 256), draft: selfDraft.makeSession(maxContext: 256),
                                                  tokenizer: tok).generate(prompt: prompt, options: options, speculative: spec)
            XCTAssertEqual(sd.tokens, viaVerify.tokens, "gamma \(gamma): SD vs plain decoding through the verification path")
            let flips = zip(sd.tokens, oneToken).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            print("gamma \(gamma): SD \(sd.stats.summary); equals one-token decoding: \(flips == nil ? "yes" : "no, first difference at token \(flips!)")")
            XCTAssertEqual(sd.tokens, oneToken, "gamma \(gamma): a near-tie flip between batched and one-row products, or a bug")
            XCTAssertGreaterThan(sd.stats.acceptanceRate, 0.5, "the int8 copy should mostly agree with its fp32 original")
            XCTAssertEqual(viaVerify.stats.accepted, 0, "a random draft should not agree with SmolLM2")
        }
    }
}
