import BackendBLAS
import BackendQuantized
import Compute
import Foundation
import GGUF
import Llama
import TensorCore
import TestSupport
import XCTest

/// The int8 backend against the fp32 backend, op by op and on the real model.
final class CrossBackendTests: XCTestCase {
    /// Normalized mean-squared error Σ(a−b)²/Σb² allowed between int8 (W8A8, blocks of 32) and fp32
    /// products of random Gaussian-like data: quantizing both operands to 8 bits costs ~1e-4.
    static let matmulNMSELimit = 1e-3
    /// The same for a whole tiny model's logits (errors compound over layers).
    static let logitsNMSELimit = 1e-2

    func nmse(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
        var num = 0.0, den = 0.0
        for i in 0..<n { num += Double(a[i] - b[i]) * Double(a[i] - b[i]); den += Double(b[i]) * Double(b[i]) }
        return num / max(den, 1e-30)
    }

    func testMatmulNMSEIsBelowTheLimit() throws {
        var rng = SeededRNG(seed: 51)
        for (out, inF, rows) in [(7, 32, 1), (64, 576, 1), (96, 576, 5), (33, 1536, 8), (130, 64, 32)] {
            var w = GGUFWriter()
            // Sum of three uniforms: roughly Gaussian.
            let values = (0..<(out * inF)).map { _ in rng.float() + rng.float() + rng.float() }
            w.addTensor(name: "m", dims: [inF, out], floats: values)
            let f = try GGUFFile(bytes: w.serialize())
            let t = f.tensors[0]
            let fp = try BLASBackend(threads: 1).prepare(t, bytes: f.bytes(of: t))
            let q = try Int8Backend().prepare(t, bytes: f.bytes(of: t))
            let x = (0..<(rows * inF)).map { _ in rng.float() + rng.float() }
            var y1 = [Float](repeating: 0, count: rows * out), y2 = y1
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: Int8Backend().scratchBytes(rows: rows, maxIn: inF), alignment: 64)
            defer { scratch.deallocate() }
            x.withUnsafeBufferPointer { xp in
                fp.apply(xp.baseAddress!, rows: rows, into: &y1, scratch: scratch)
                q.apply(xp.baseAddress!, rows: rows, into: &y2, scratch: scratch)
            }
            let e = nmse(y2, y1, y1.count)
            XCTAssertLessThan(e, Self.matmulNMSELimit, "\(out)x\(inF) rows \(rows)")
            // Rows of a batch are quantized independently: a row's result does not depend on its batch.
            var single = [Float](repeating: 0, count: out)
            x.withUnsafeBufferPointer { q.apply($0.baseAddress! + (rows - 1) * inF, rows: 1, into: &single, scratch: scratch) }
            XCTAssertEqual(single, Array(y2[((rows - 1) * out)...]))
        }
    }

    func testTinyModelLogitsAgreeAcrossBackends() throws {
        let bytes = TinyLlama.gguf(seed: 4)
        let a = try loadTiny(bytes, backend: .blas), b = try loadTiny(bytes, backend: .int8)
        let tokens: [Int32] = [3, 14, 15, 92, 65, 35]
        let sa = a.makeSession(maxContext: 32), sb = b.makeSession(maxContext: 32)
        let la = try sa.forward(tokens, at: 0, allLogits: true)
        let lb = try sb.forward(tokens, at: 0, allLogits: true)
        XCTAssertLessThan(nmse(lb, la, tokens.count * 96), Self.logitsNMSELimit)
        withExtendedLifetime((sa, sb)) {}
    }

    func testSmolLM2Int8ArgmaxAgreesWithFP32AlongTheGreedyPath() throws {
        let path: String
        do { path = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
        let file = try GGUFFile(path: path)
        let fp = try LlamaModel(file: file, backend: BLASBackend(threads: 1))
        let q = try LlamaModel(file: file, backend: Int8Backend())
        let golden = try Paths.json(Paths.golden.appendingPathComponent("smollm2-135m-instruct.reference.json")) as! [String: Any]
        var agree = 0, total = 0, agreeGreedy = 0, totalGreedy = 0
        let v = fp.config.vocabSize
        for p in golden["prompts"] as! [[String: Any]] {
            let prompt = (p["prompt_ids"] as! [Int]).map(Int32.init)
            let seq = prompt + (p["greedy_ids"] as! [Int]).map(Int32.init)
            let sf = fp.makeSession(maxContext: 128, maxBatch: 128), sq = q.makeSession(maxContext: 128, maxBatch: 128)
            let lf = try sf.forward(seq, at: 0, allLogits: true)
            let lq = try sq.forward(seq, at: 0, allLogits: true)
            defer { withExtendedLifetime((sf, sq)) {} }
            for t in 0..<seq.count {
                let same = argmax(lf + t * v, v) == argmax(lq + t * v, v)
                total += 1; agree += same ? 1 : 0
                if t >= prompt.count - 1 && t < seq.count - 1 { totalGreedy += 1; agreeGreedy += same ? 1 : 0 }
            }
        }
        let rate = Double(agree) / Double(total), greedyRate = Double(agreeGreedy) / Double(totalGreedy)
        print(String(format: "int8 vs fp32 argmax agreement: %.1f %% of %d positions (greedy steps only: %.1f %% of %d)",
                     rate * 100, total, greedyRate * 100, totalGreedy))
        // The bar is along the fp32 greedy path (the positions that chose a greedy token);
        // prompt positions, which predict the user's text, are reported but not held to it.
        XCTAssertGreaterThanOrEqual(greedyRate, 0.97)
        XCTAssertGreaterThanOrEqual(rate, 0.93, "a drop on prompt positions too would mean a broken int8 path")
    }

    func argmax(_ p: UnsafePointer<Float>, _ n: Int) -> Int {
        var best = 0
        for i in 1..<n where p[i] > p[best] { best = i }
        return best
    }
}
