import BackendBLAS
import Foundation
import GGUF
import Llama
import TensorCore
import TestSupport
import XCTest

/// The fp32 engine against Tests/Fixtures/golden/smollm2-135m-instruct.reference.json (a float32
/// numpy forward pass over the dequantized weights).
final class GoldenTests: XCTestCase {
    static let tolerance: Float = 2e-2

    /// On every kernel tier this machine has (each tier's twins sum in their own order).
    func testSmolLM2MatchesReferenceLogitsAndGreedyIdsOnEveryTier() throws {
        let path: String
        do { path = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
        let golden = try Paths.json(Paths.golden.appendingPathComponent("smollm2-135m-instruct.reference.json")) as! [String: Any]
        let model = try LlamaModel(file: GGUFFile(path: path), backend: BLASBackend(threads: 1))
        defer { KernelTier.best.select() }
        for tier in KernelTier.allCases where !tier.isSupported {
            print("golden: tier \(tier) not exercised here: \(tier.unsupportedReason ?? "?")")
        }
        for tier in KernelTier.supported {
            XCTAssertTrue(tier.select())
            try check(model, golden: golden, tier: tier)
        }
    }

    /// An fp16 KV cache (the server's default) on the best tier stays within the same tolerance of the
    /// fp32 reference, greedy paths included (measured: worst |diff| 0.011 against 7.6e-5 with fp32).
    func testAHalfKVCacheStaysCloseToTheReference() throws {
        let path: String
        do { path = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
        let golden = try Paths.json(Paths.golden.appendingPathComponent("smollm2-135m-instruct.reference.json")) as! [String: Any]
        let model = try LlamaModel(file: GGUFFile(path: path), backend: BLASBackend(threads: 1), kvFormat: .f16)
        try check(model, golden: golden, tier: KernelTier.best)
    }

    func check(_ model: LlamaModel, golden: [String: Any], tier: KernelTier, tolerance: Float = GoldenTests.tolerance) throws {
        let vocab = model.config.vocabSize
        var worst: Float = 0
        var minGap = Float.infinity
        var checked = 0
        for (pi, prompt) in (golden["prompts"] as! [[String: Any]]).enumerated() {
            let ids = (prompt["prompt_ids"] as! [Int]).map(Int32.init)
            let session = model.makeSession(maxContext: 256, maxBatch: 64)
            let logits = try session.forward(ids, at: 0, allLogits: true)
            let perPos = prompt["prompt_top10_per_position"] as! [[[Double]]]
            XCTAssertEqual(perPos.count, ids.count)
            for (t, top) in perPos.enumerated() {
                let row = logits + t * vocab
                for pair in top {
                    let diff = abs(row[Int(pair[0])] - Float(pair[1]))
                    worst = max(worst, diff)
                    XCTAssertLessThanOrEqual(diff, tolerance, "\(tier): prompt \(pi) position \(t) token \(Int(pair[0]))")
                    checked += 1
                }
            }
            var last = Array(UnsafeBufferPointer(start: logits + (ids.count - 1) * vocab, count: vocab))
            var pos = ids.count
            for (s, step) in (prompt["greedy"] as! [[String: Any]]).enumerated() {
                let want = step["id"] as! Int
                let sorted = last.enumerated().sorted { $0.element > $1.element }
                minGap = min(minGap, sorted[0].element - sorted[1].element)
                XCTAssertEqual(sorted[0].offset, want, "\(tier): prompt \(pi) greedy step \(s)")
                let next = try session.forward([Int32(want)], at: pos)
                pos += 1
                last = Array(UnsafeBufferPointer(start: next, count: vocab))
                for pair in step["top10_after"] as! [[Double]] {
                    let diff = abs(last[Int(pair[0])] - Float(pair[1]))
                    worst = max(worst, diff)
                    XCTAssertLessThanOrEqual(diff, tolerance, "\(tier): prompt \(pi) after greedy step \(s)")
                    checked += 1
                }
            }
        }
        print("golden, tier \(tier), \(model.kvFormat) KV cache: \(checked) logits checked, worst |diff| \(worst), smallest top-2 gap on the greedy paths \(minGap)")
    }
}
