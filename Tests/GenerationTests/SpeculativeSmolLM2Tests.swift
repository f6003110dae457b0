import BackendBLAS
import BackendQuantized
import Generation
import GGUF
import LanguageModels
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
            let spec = SpeculativeOptions(gamma: gamma)
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

    /// A feature draft reads SmolLM2's hidden states as the target session records them (a random one here:
    /// the tiny-model tests check the rows it computes; this checks the wiring on the real model). Greedy SD
    /// with it, alone and behind prompt lookup, is plain greedy decoding token for token.
    func testGreedySDWithAFeatureDraftEqualsPlainGreedy() throws {
        let path: String
        do { path = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
        let file = try GGUFFile(path: path)
        let tok = try Tokenizer(file: file)
        let target = try LlamaModel(file: file, backend: BLASBackend(threads: 1))
        var config = TinyLlama.defaultConfig
        config.vocabSize = target.config.vocabSize
        config.dim = target.config.dim
        config.heads = target.config.heads
        config.kvHeads = target.config.kvHeads
        config.headDim = target.config.headDim
        config.layers = 1
        let draftFile = try GGUFFile(bytes: TinyLlama.gguf(config: config, seed: 9, featureDraftFor: target.fingerprint))
        let weights = try FeatureDraftModel(file: draftFile, backend: Int8Backend(), targetFile: file)
        let prompt = tok.encode("<|im_start|>user\nName three colors, then name them again.<|im_end|>\n<|im_start|>assistant\n",
                                parseSpecial: true)
        let options = GenerationOptions(maxTokens: 32, stopAtEOS: false)
        let oneToken = try Generator(model: target.makeSession(maxContext: 256), tokenizer: tok).generate(prompt: prompt, options: options).tokens
        for gamma in [1, 4] {
            for lookup in [false, true] {
                let session = target.makeSession(maxContext: 256)
                let features = TargetFeatures(dim: target.config.dim, capacity: 256)
                session.features = features
                let fd = FeatureDraft(weights: weights, features: features, maxContext: 256)
                let draft: any LanguageModel = lookup ? LookupDraft(vocabSize: tok.vocab.count, maxContext: 256, minN: 2, fallback: fd) : fd
                let sd = try SerialSpeculativeDecoder(target: session, draft: draft, tokenizer: tok)
                    .generate(prompt: prompt, options: options, speculative: SpeculativeOptions(gamma: gamma))
                XCTAssertEqual(sd.tokens, oneToken, "gamma \(gamma), lookup \(lookup)")
                XCTAssertEqual(features.count, session.kvLength, "the target recorded every position it kept")
                XCTAssertEqual(fd.kvLength, draft.kvLength)
            }
        }
    }
}
