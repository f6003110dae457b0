import BackendBLAS
import Generation
import GGUF
import Llama
import TestSupport
import XCTest

/// Feature (EAGLE-style) drafts on tiny random models: they read the target's recorded hidden states,
/// their own guesses past them, redo guessed rows once the target has verified them, refuse another
/// target's file, and leave greedy speculative output equal to plain greedy output.
final class FeatureDraftTests: XCTestCase {
    let v = TinyLlama.defaultConfig.vocabSize
    let d = TinyLlama.defaultConfig.dim

    func draftBytes(for targetBytes: [UInt8], seed: UInt64 = 5) throws -> [UInt8] {
        var c = TinyLlama.defaultConfig
        c.layers = 1
        return TinyLlama.gguf(config: c, seed: seed, featureDraftFor: try LlamaModel.fingerprint(of: GGUFFile(bytes: targetBytes)))
    }

    func weights(target: [UInt8] = TinyLlama.gguf()) throws -> FeatureDraftModel {
        try FeatureDraftModel(file: GGUFFile(bytes: draftBytes(for: target)), backend: BLASBackend(threads: 1),
                              targetFile: GGUFFile(bytes: target))
    }

    func rows(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> [Float] { Array(UnsafeBufferPointer(start: p, count: n * v)) }

    func maxDiff(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    func testTheTargetRecordsItsLastHiddenStateForCausalBatchesOnly() throws {
        let target = try loadTiny().makeSession(maxContext: 64, maxBatch: 16)
        let features = TargetFeatures(dim: d, capacity: 64)
        target.features = features
        let seq: [Int32] = [3, 1, 4, 1, 5, 9, 2, 6]
        try target.forward(seq, at: 0)
        XCTAssertEqual(features.count, seq.count)
        for p in 0..<seq.count {
            for i in 0..<d { XCTAssertEqual(features.row(p)[i], target.hidden[p * d + i], "position \(p)") }
        }
        target.truncate(to: 3)
        XCTAssertEqual(features.count, 3, "truncating the target drops the features of the positions it drops")
        // Tree rows are speculative branches: nothing is recorded for them.
        _ = try [Int32(7), 8].withUnsafeBufferPointer { t in
            try [Int32(-1), 0].withUnsafeBufferPointer { try target.forwardTree(t, parents: $0) }
        }
        XCTAssertEqual(features.count, 3)
    }

    func testGuessedRowsAreRedoneFromTheTargetsFeaturesOnceVerified() throws {
        let targetBytes = TinyLlama.gguf()
        let target = try loadTiny(targetBytes).makeSession(maxContext: 64, maxBatch: 16)
        let features = TargetFeatures(dim: d, capacity: 64)
        target.features = features
        let w = try weights(target: targetBytes)
        let seq: [Int32] = (0..<12).map { Int32(($0 * 37 + 5) % 96) }
        // Reference: every row reads the target's own feature.
        try target.forward(seq, at: 0)
        let full = FeatureDraft(weights: w, features: features, maxContext: 64)  // owns the logits it returns
        let reference = rows(try full.forward(seq, at: 0, allLogits: true), seq.count)

        // The target has verified positions 0..<5; the draft runs ahead on its own guesses.
        target.truncate(to: 5)
        let draft = FeatureDraft(weights: w, features: features, maxContext: 64)
        let first = rows(try draft.forward(Array(seq[0..<6]), at: 0, allLogits: true), 6)
        XCTAssertLessThan(maxDiff(first[...], reference[0..<(6 * v)]), 1e-4, "rows 0...5 read real features")
        let guessed = rows(try draft.forward([seq[6]], at: 6, allLogits: true), 1)
        XCTAssertGreaterThan(maxDiff(guessed[...], reference[(6 * v)..<(7 * v)]), 1e-3, "row 6 reads the draft's own guess of f_5")
        _ = try draft.forward([seq[7]], at: 7)

        // The target verifies 5..<12; the next forward redoes rows 6 and 7 before rows 8...11.
        try target.forward(Array(seq[5...]), at: 5)
        let after = rows(try draft.forward(Array(seq[8...]), at: 8, allLogits: true), 4)
        XCTAssertLessThan(maxDiff(after[...], reference[(8 * v)...]), 1e-4)
        XCTAssertEqual(draft.kvLength, seq.count)

        // Without the redo, rows 8...11 would attend to rows computed from guesses.
        let stale = FeatureDraft(weights: w, features: TargetFeatures(dim: d, capacity: 64), maxContext: 64)
        let staleRows = rows(try stale.forward(seq, at: 0, allLogits: true), seq.count)
        XCTAssertGreaterThan(maxDiff(staleRows[(8 * v)...], reference[(8 * v)...]), 1e-3)
    }

    func testAFileForAnotherTargetOrNoFeatureDraftIsRefused() throws {
        let other = TinyLlama.gguf(seed: 2)
        XCTAssertThrowsError(try FeatureDraftModel(file: GGUFFile(bytes: draftBytes(for: TinyLlama.gguf())), backend: BLASBackend(threads: 1),
                                                   targetFile: GGUFFile(bytes: other))) {
            guard case .otherTarget? = $0 as? FeatureDraftError else { return XCTFail("\($0)") }
            XCTAssertTrue("\($0)".contains("not of this target"), "\($0)")
        }
        XCTAssertFalse(FeatureDraftModel.isFeatureDraft(try GGUFFile(bytes: other)))
        XCTAssertThrowsError(try FeatureDraftModel(file: GGUFFile(bytes: other), backend: BLASBackend(threads: 1),
                                                   targetFile: GGUFFile(bytes: TinyLlama.gguf()))) {
            XCTAssertEqual($0 as? FeatureDraftError, .notAFeatureDraft(path: "(in memory)"))
        }
    }

    func testGreedySpeculativeDecodingWithAFeatureDraftEqualsPlainGreedy() throws {
        let targetBytes = TinyLlama.gguf()
        let model = try loadTiny(targetBytes)
        let tok = try ToyVocabulary.tokenizer()
        let prompt: [Int32] = [5, 17, 3, 40, 2, 9]
        let options = GenerationOptions(maxTokens: 40, stopAtEOS: false)
        let plain = try Generator(model: model.makeSession(maxContext: 128), tokenizer: tok).generate(prompt: prompt, options: options).tokens
        let w = try weights(target: targetBytes)
        for gamma in [1, 2, 4, 7] {
            let target = model.makeSession(maxContext: 128, maxBatch: 16)
            let features = TargetFeatures(dim: d, capacity: 128)
            target.features = features
            let draft = FeatureDraft(weights: w, features: features, maxContext: 128)
            let r = try SerialSpeculativeDecoder(target: target, draft: draft, tokenizer: tok)
                .generate(prompt: prompt, options: options, speculative: SpeculativeOptions(gamma: gamma))
            XCTAssertEqual(r.tokens, plain, "gamma \(gamma)")
            XCTAssertGreaterThan(r.stats.rounds, 0)
        }
    }
}
