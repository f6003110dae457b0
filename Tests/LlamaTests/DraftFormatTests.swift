import GGUF
import Llama
import TestSupport
import XCTest

/// The two things MirrorSD's distilled drafts add to a standard llama GGUF.
final class DraftFormatTests: XCTestCase {
    func testFFNDownBiasOnTheLastBlockShiftsTheFinalResidualByExactlyTheBias() throws {
        let c = TinyLlama.defaultConfig
        let bias = (0..<c.dim).map { Float($0 % 7) - 3 }
        let plain = try loadTiny(TinyLlama.gguf()).makeSession(maxContext: 32, maxBatch: 8)
        let biased = try loadTiny(TinyLlama.gguf(downBias: bias)).makeSession(maxContext: 32, maxBatch: 8)
        let tokens: [Int32] = [3, 1, 4, 1, 5]
        for s in [plain, biased] {
            try tokens.withUnsafeBufferPointer { try s.begin(tokens: $0, at: 0) }
            try s.runLayers(0..<c.layers)
        }
        for i in 0..<(tokens.count * c.dim) {
            XCTAssertEqual(biased.hidden[i], plain.hidden[i] + bias[i % c.dim], "element \(i)")
        }
    }

    func testWrongBiasShapeIsRejectedByName() {
        XCTAssertThrowsError(try loadTiny(TinyLlama.gguf(downBias: [1, 2, 3]))) {
            guard case .shapeMismatch(let t, _, _)? = $0 as? LlamaError else { return XCTFail("\($0)") }
            XCTAssertEqual(t, "blk.2.ffn_down.bias")
        }
    }

    func testRestrictedHeadComputesTheFirstRowsAndMasksTheRest() throws {
        let v = TinyLlama.defaultConfig.vocabSize
        let k = 40
        let full = try loadTiny(TinyLlama.gguf()).makeSession(maxContext: 32, maxBatch: 8)
        let headModel = try loadTiny(TinyLlama.gguf(headVocab: k))
        XCTAssertEqual(headModel.headVocab, k)
        XCTAssertLessThan(headModel.macsPerToken, try loadTiny(TinyLlama.gguf()).macsPerToken)
        let head = headModel.makeSession(maxContext: 32, maxBatch: 8)
        let tokens: [Int32] = [9, 8, 7, 6]
        let a = Array(UnsafeBufferPointer(start: try full.forward(tokens, at: 0, allLogits: true), count: tokens.count * v))
        let b = Array(UnsafeBufferPointer(start: try head.forward(tokens, at: 0, allLogits: true), count: tokens.count * v))
        for r in 0..<tokens.count {
            for i in 0..<v {
                if i < k {
                    XCTAssertEqual(b[r * v + i], a[r * v + i], accuracy: 1e-5, "row \(r) id \(i)")
                } else {
                    XCTAssertEqual(b[r * v + i], -.infinity, "row \(r) id \(i)")
                }
            }
        }
        // A proxy limit below the head size still gives rows `limit` apart.
        let p = head.computeLogits(rows: 0..<2, vocabLimit: 10)
        for r in 0..<2 { for i in 0..<10 { XCTAssertEqual(p[r * 10 + i], a[r * v + i], accuracy: 1e-5) } }
    }

    func testHeadVocabOutsideTheVocabularyIsAClearError() {
        for bad in [0, TinyLlama.defaultConfig.vocabSize + 1] {
            XCTAssertThrowsError(try loadTiny(TinyLlama.gguf(headVocab: bad))) {
                XCTAssertTrue("\($0)".contains(LlamaModel.headVocabKey), "\($0)")
            }
        }
    }
}
