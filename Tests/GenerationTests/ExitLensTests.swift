import BackendBLAS
import GGUF
import Generation
import Llama
import TestSupport
import XCTest

/// Exit lenses: they bind only to the model they were trained for, the identity lens is the raw
/// logit lens, and a lens moves the early-exit proxy but never the output.
final class ExitLensTests: XCTestCase {
    func model(seed: UInt64) throws -> LlamaModel {
        try LlamaModel(file: GGUFFile(bytes: TinyLlama.gguf(seed: seed)), backend: BLASBackend(threads: 1))
    }

    /// A lens file for `target`: `weights(layer)` gives A (row-major, out × in) and b.
    func lensFile(for target: LlamaModel, layers: [Int], fingerprint: String? = nil,
                  weights: (Int) -> ([Float], [Float])) throws -> GGUFFile {
        let d = target.config.dim
        var w = GGUFWriter()
        w.set("general.architecture", .string(ExitLens.architecture))
        w.set(ExitLens.fingerprintKey, .string(fingerprint ?? target.fingerprint))
        w.set(ExitLens.targetNameKey, .string("tiny-random-llama"))
        w.set(ExitLens.dimKey, .uint32(UInt32(d)))
        for l in layers {
            let (a, b) = weights(l)
            w.addTensor(name: "lens.\(l).weight", dims: [d, d], floats: a)
            w.addTensor(name: "lens.\(l).bias", dims: [d], floats: b)
        }
        return try GGUFFile(bytes: w.serialize())
    }

    func identity(_ d: Int) -> [Float] { (0..<(d * d)).map { $0 / d == $0 % d ? 1 : 0 } }

    func testALensForAnotherModelOrLayerIsRefusedWithAClearMessage() throws {
        let a = try model(seed: 1), b = try model(seed: 2)
        XCTAssertNotEqual(a.fingerprint, b.fingerprint)
        let d = a.config.dim
        let file = try lensFile(for: a, layers: [1]) { _ in (self.identity(d), [Float](repeating: 0, count: d)) }
        XCTAssertNoThrow(try ExitLens(file: file, layer: 1, model: a))
        XCTAssertThrowsError(try ExitLens(file: file, layer: 1, model: b)) { e in
            XCTAssertTrue("\(e)".contains("was trained for tiny-random-llama"), "\(e)")
            XCTAssertTrue("\(e)".contains("not for this target"), "\(e)")
        }
        XCTAssertThrowsError(try ExitLens(file: file, layer: 2, model: a)) { e in
            XCTAssertTrue("\(e)".contains("has no lens for layer 2; it has layers 1"), "\(e)")
        }
        // A model file is not a lens file.
        XCTAssertThrowsError(try ExitLens(file: GGUFFile(bytes: TinyLlama.gguf(seed: 1)), layer: 1, model: a)) { e in
            XCTAssertTrue("\(e)".contains("is not an exit-lens file"), "\(e)")
        }
        // A non-finite weight names its tensor.
        let nan = try lensFile(for: a, layers: [1]) { _ in
            var m = self.identity(d)
            m[5] = .nan
            return (m, [Float](repeating: 0, count: d))
        }
        XCTAssertThrowsError(try ExitLens(file: nan, layer: 1, model: a)) { e in
            XCTAssertTrue("\(e)".contains("lens.1.weight"), "\(e)")
        }
    }

    /// The fingerprint is the same whether the matrices are f32 or Q8_0: a lens trained on one file
    /// of a model fits its quantized copies.
    func testTheFingerprintIgnoresTheMatrixFormat() throws {
        let f32 = try model(seed: 4)
        let q8 = try LlamaModel(file: GGUFFile(bytes: TinyLlama.gguf(seed: 4, type: .q8_0)), backend: BLASBackend(threads: 1))
        XCTAssertEqual(f32.fingerprint, q8.fingerprint)
    }

    /// A = I, b = 0 is the raw logit lens: rms_norm of a unit-rms row is the row.
    func testTheIdentityLensIsTheRawLogitLens() throws {
        let m = try model(seed: 5)
        let d = m.config.dim, v = m.config.vocabSize
        let lens = try ExitLens(file: lensFile(for: m, layers: [2]) { _ in (self.identity(d), [Float](repeating: 0, count: d)) },
                                layer: 2, model: m)
        let s = m.makeSession(maxContext: 64, maxBatch: 8)
        try [Int32(3), 17, 40, 9, 77].withUnsafeBufferPointer { try s.begin(tokens: $0, at: 0) }
        try s.runLayers(0..<2)
        let raw = Array(UnsafeBufferPointer(start: s.computeLogits(rows: 0..<5), count: 5 * v))
        s.exitLens = lens
        let viaLens = Array(UnsafeBufferPointer(start: s.computeProxyLogits(rows: 0..<5), count: 5 * v))
        var worst: Float = 0
        for i in raw.indices { worst = max(worst, abs(raw[i] - viaLens[i]) / max(1, abs(raw[i]))) }
        XCTAssertLessThan(worst, 1e-4, "identity lens differs from the raw lens by \(worst)")
        // After the other layers the lens no longer applies: the proxy is the model's own logits.
        try s.runLayers(2..<3)
        let final = Array(UnsafeBufferPointer(start: s.computeLogits(rows: 0..<5), count: 5 * v))
        XCTAssertEqual(Array(UnsafeBufferPointer(start: s.computeProxyLogits(rows: 0..<5), count: 5 * v)), final)
    }

    /// Speculative greedy output == plain greedy output, with and without a (random) lens, and the
    /// random lens does change the early-exit candidates.
    func testALensChangesTheProxyOnlyNeverTheOutput() throws {
        let target = try model(seed: 6), draftModel = try model(seed: 7)
        let d = target.config.dim
        var rng = SeededRNG(seed: 11)
        let lens = try ExitLens(file: lensFile(for: target, layers: [2]) { _ in (rng.floats(d * d, scale: 0.5), rng.floats(d, scale: 0.5)) },
                                layer: 2, model: target)
        let tok = ToyVocabulary.standard
        let prompt: [Int32] = [5, 9, 2, 44, 61, 3]
        let session = target.makeSession(maxContext: 128, maxBatch: 16)
        let options = GenerationOptions(maxTokens: 40, stopAtEOS: false)
        let plain = try Generator(model: session, tokenizer: tok).generate(prompt: prompt, options: options).tokens
        var omegas: [Double] = []
        for withLens in [false, true] {
            session.exitLens = withLens ? lens : nil
            let draft = draftModel.makeSession(maxContext: 128, maxBatch: 64)
            let mo = MirrorOptions(gamma: 3, kappa: 2, exitLayer: 2, pinThreads: false)
            let r = try MirrorDecoder(target: session, draft: draft, tokenizer: tok).generate(prompt: prompt, options: options, mirror: mo)
            XCTAssertEqual(r.tokens, plain, "mirror greedy (lens \(withLens)) differs from plain greedy")
            omegas.append(r.stats.omega)
        }
        XCTAssertNotEqual(omegas[0], omegas[1], "the random lens left the early-exit hit rate unchanged: was it applied?")
        // A lens for another layer than the early exit is refused.
        let other = MirrorOptions(gamma: 3, kappa: 2, exitLayer: 1, pinThreads: false)
        XCTAssertThrowsError(try MirrorDecoder(target: session, draft: draftModel.makeSession(maxContext: 128, maxBatch: 64), tokenizer: tok)
            .generate(prompt: prompt, options: options, mirror: other)) { e in
            XCTAssertTrue("\(e)".contains("the exit lens is for layer 2"), "\(e)")
        }
    }
}
