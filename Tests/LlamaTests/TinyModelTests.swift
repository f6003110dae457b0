import BackendBLAS
import BackendQuantized
import Compute
import GGUF
import Llama
import TensorCore
import TestSupport
import XCTest

enum BackendChoice { case blas, int8 }

func loadTiny(_ bytes: [UInt8] = TinyLlama.gguf(), backend: BackendChoice = .blas, kvFormat: KVFormat = .f32) throws -> LlamaModel {
    let b: any ComputeBackend = backend == .blas ? BLASBackend(threads: 1) : Int8Backend()
    return try LlamaModel(file: GGUFFile(bytes: bytes), backend: b, kvFormat: kvFormat)
}

/// Largest |a - b| relative to the largest |a|.
func maxRelDiff(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var d: Float = 0, m: Float = 1e-30
    for i in 0..<n { d = max(d, abs(a[i] - b[i])); m = max(m, abs(a[i])) }
    return d / m
}

final class TinyModelTests: XCTestCase {
    /// Kept as a tolerance although every product is now batch-invariant: the test states the contract
    /// (prefill equals steps), not the implementation.
    static let batchVsStepTolerance: Float = 1e-5

    func testPrefillEqualsOneTokenSteps() throws {
        for tied in [true, false] {
            let model = try loadTiny(TinyLlama.gguf(tied: tied))
            let v = model.config.vocabSize
            let tokens: [Int32] = [5, 17, 3, 95, 0, 42, 42, 7, 11]
            let batch = model.makeSession(maxContext: 64, maxBatch: 16)
            let all = try batch.forward(tokens, at: 0, allLogits: true)
            let step = model.makeSession(maxContext: 64, maxBatch: 16)
            for (i, t) in tokens.enumerated() {
                let one = try step.forward([t], at: i)
                XCTAssertLessThan(maxRelDiff(all + i * v, one, v), Self.batchVsStepTolerance, "tied=\(tied) position \(i)")
            }
            XCTAssertEqual(batch.kvLength, tokens.count)
            XCTAssertEqual(step.kvLength, tokens.count)
        }
    }

    func testTruncateThenRefeedGivesTheSameLogits() throws {
        let model = try loadTiny()
        let v = model.config.vocabSize
        let s = model.makeSession(maxContext: 64, maxBatch: 8)
        try s.prefill([1, 2, 3, 4, 5], at: 0)
        let before = Array(UnsafeBufferPointer(start: try s.forward([6, 7], at: 5), count: v))
        _ = try s.forward([50, 51, 52], at: 7)
        s.truncate(to: 5)
        XCTAssertEqual(s.kvLength, 5)
        let after = try s.forward([6, 7], at: 5)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: after, count: v)), before)
    }

    func testStoppingAfterAnyLayerAndResumingEqualsTheFullPass() throws {
        let model = try loadTiny()
        let v = model.config.vocabSize
        let full = model.makeSession(maxContext: 32, maxBatch: 8)
        let want = Array(UnsafeBufferPointer(start: try full.forward([3, 1, 4, 1, 5], at: 0, allLogits: true), count: 5 * v))
        for exit in 0...model.config.layers {
            let s = model.makeSession(maxContext: 32, maxBatch: 8)
            try [3, 1, 4, 1, 5].withUnsafeBufferPointer { try s.begin(tokens: $0, at: 0) }
            try s.runLayers(0..<exit)
            _ = s.computeLogits(rows: 0..<5)  // the logit lens must not disturb the residual stream
            try s.runLayers(exit..<model.config.layers)
            let got = s.computeLogits(rows: 0..<5)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: got, count: 5 * v)), want, "exit after \(exit)")
        }
    }

    func testBoundsAreCheckedNotTrapped() throws {
        let model = try loadTiny()
        let s = model.makeSession(maxContext: 8, maxBatch: 4)
        XCTAssertThrowsError(try s.forward([1, 2, 3, 4, 5], at: 0)) { XCTAssertEqual($0 as? LlamaError, .batchTooLarge(rows: 5, capacity: 4)) }
        XCTAssertThrowsError(try s.forward([1], at: 3)) { XCTAssertEqual($0 as? LlamaError, .positionMismatch(expected: 0, got: 3)) }
        XCTAssertThrowsError(try s.forward([96], at: 0)) { XCTAssertEqual($0 as? LlamaError, .tokenOutOfRange(token: 96, vocabSize: 96)) }
        XCTAssertThrowsError(try s.forward([-1], at: 0))
        try s.prefill([1, 2, 3, 4, 5, 6, 7], at: 0)
        XCTAssertThrowsError(try s.forward([1, 2], at: 7)) { XCTAssertEqual($0 as? LlamaError, .contextFull(needed: 9, capacity: 8)) }
        XCTAssertThrowsError(try s.runLayers(0..<1)) { if case .invalidLayerRange = $0 as? LlamaError {} else { XCTFail("\($0)") } }
    }

    func testConfigValidationAndBindingErrorsNameTheProblem() throws {
        var c = TinyLlama.defaultConfig
        c.kvHeads = 3
        XCTAssertThrowsError(try loadTiny(TinyLlama.gguf(config: c))) {
            XCTAssertEqual($0 as? LlamaError, .invalidConfig("KV head count 3 does not divide the head count 4"))
        }
        // Drop a tensor and change a shape by rewriting the file.
        let f = try GGUFFile(bytes: TinyLlama.gguf())
        func rewrite(_ edit: (GGUFTensorInfo) -> (name: String, dims: [Int])?) throws -> [UInt8] {
            var w = GGUFWriter()
            for k in f.keys { w.set(k, f.metadata[k]!) }
            for t in f.tensors {
                guard let e = edit(t) else { continue }
                w.addTensor(name: e.name, dims: e.dims, type: t.type, data: Array(f.bytes(of: t)))
            }
            return w.serialize()
        }
        XCTAssertThrowsError(try loadTiny(rewrite { $0.name == "blk.1.ffn_up.weight" ? nil : ($0.name, $0.dims) })) {
            XCTAssertEqual($0 as? LlamaError, .missingTensor("blk.1.ffn_up.weight"))
        }
        XCTAssertThrowsError(try loadTiny(rewrite { $0.name == "blk.2.attn_k.weight" ? ($0.name, [32, 64]) : ($0.name, $0.dims) })) {
            XCTAssertEqual($0 as? LlamaError, .shapeMismatch(tensor: "blk.2.attn_k.weight", expected: [64, 32], actual: [32, 64]))
        }
        var w = GGUFWriter()
        w.set("general.architecture", .string("gpt2"))
        XCTAssertThrowsError(try loadTiny(w.serialize())) { XCTAssertEqual($0 as? LlamaError, .unsupportedArchitecture("gpt2")) }
    }

    func testTiedEmbeddingsAreUsedWhenOutputIsAbsent() throws {
        XCTAssertTrue(try loadTiny(TinyLlama.gguf(tied: true)).tiedEmbeddings)
        XCTAssertFalse(try loadTiny(TinyLlama.gguf(tied: false)).tiedEmbeddings)
    }
}

extension TinyModelTests {
    func testOpProfileAccountsForEveryForwardAndCostsNothingDetached() throws {
        let model = try loadTiny()
        let s = model.makeSession(maxContext: 64, maxBatch: 8)
        let want = Array(UnsafeBufferPointer(start: try s.forward([1, 2, 3], at: 0, allLogits: true), count: 3 * 96))
        let s2 = model.makeSession(maxContext: 64, maxBatch: 8)
        let p = OpProfile(layers: model.config.layers)
        s2.opProfile = p
        let got = Array(UnsafeBufferPointer(start: try s2.forward([1, 2, 3], at: 0, allLogits: true), count: 3 * 96))
        _ = try s2.forward([4], at: 3)
        XCTAssertEqual(got, want, "profiling does not change results")
        XCTAssertEqual(p.forwards, 2)
        XCTAssertGreaterThan(p.totalSeconds, 0)
        XCTAssertGreaterThan(p.headSeconds, 0)
        for l in 0..<model.config.layers { XCTAssertGreaterThan(p.layerSeconds(l), 0) }
        XCTAssertEqual(p.seconds.reduce(0, +) + p.headSeconds, p.totalSeconds, accuracy: 1e-12)
    }
}
