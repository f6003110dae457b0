import BackendBLAS
import BackendQuantized
import Compute
import GGUF
import Llama
import TensorCore
import TestSupport
import XCTest

/// SmolLM2's logits for a row are bit-identical whether the row is decoded alone or verified among
/// several, on every kernel tier this machine has, on both backends, and (fp32) on 1 or 2 threads;
/// with an fp16 KV cache too.
/// This is what makes greedy speculative output equal AR output by construction, not up to near-ties.
final class BatchInvarianceTests: XCTestCase {
    func check(_ model: LlamaModel, tier: KernelTier, threads: Int, label: String) throws {
        let vocab = model.config.vocabSize
        let prompt: [Int32] = [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411,
                               407, 19712, 8182, 2, 198, 1, 4093, 198]
        let window: [Int32] = [504, 3458, 282, 4649, 314, 7042]  // 6 rows: a verification of γ = 5
        let session = model.makeSession(maxContext: 64, maxBatch: 32)
        _ = try session.prefill(prompt, at: 0)
        Ops.setBLASThreads(threads)
        defer { Ops.setBLASThreads(1) }
        let batch = try session.forward(window, at: prompt.count, allLogits: true)
        let batchRows = Array(UnsafeBufferPointer(start: batch, count: window.count * vocab))
        session.truncate(to: prompt.count)
        Ops.setBLASThreads(1)
        for (i, t) in window.enumerated() {
            let one = try session.forward([t], at: prompt.count + i)
            let alone = Array(UnsafeBufferPointer(start: one, count: vocab))
            let same = alone == Array(batchRows[(i * vocab)..<((i + 1) * vocab)])
            XCTAssertTrue(same, "\(label), tier \(tier), \(threads) thread(s): row \(i) of the window differs from decoding it alone")
        }
    }

    func testSmolLM2RowsAreBitIdenticalAloneAndInABatchOnEveryTier() throws {
        let path: String
        do { path = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
        let file = try GGUFFile(path: path)
        let fp32 = try LlamaModel(file: file, backend: BLASBackend(threads: 1))
        let int8 = try LlamaModel(file: file, backend: Int8Backend())
        let halfCache = try LlamaModel(file: file, backend: NativeBackend(threads: 2, unquantized: BLASBackend(threads: 2)), kvFormat: .f16)
        defer { KernelTier.best.select() }
        for tier in KernelTier.allCases where !tier.isSupported {
            print("batch invariance: tier \(tier) not exercised here: \(tier.unsupportedReason ?? "?")")
        }
        for tier in KernelTier.supported {
            XCTAssertTrue(tier.select())
            try check(fp32, tier: tier, threads: 1, label: "fp32")
            if tier != .ref { try check(fp32, tier: tier, threads: 2, label: "fp32") }
            try check(int8, tier: tier, threads: 1, label: "int8")
            try check(halfCache, tier: tier, threads: 2, label: "native, fp16 KV cache")
            print("batch invariance: tier \(tier) (\(Ops.kernelImplementations)) checked")
        }
    }

    /// A prefill-sized forward (up to 64 rows, prompt rows included) gives each row the bits of
    /// decoding it alone, on every backend and tier and on 1 or 2 threads.
    func testRowsAreBitIdenticalInAPrefillSizedForward() throws {
        let path: String
        do { path = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
        let file = try GGUFFile(path: path)
        let models = [("native", try LlamaModel(file: file, backend: NativeBackend(threads: 2, unquantized: BLASBackend(threads: 2)))),  // threaded attention too
                      ("int8", try LlamaModel(file: file, backend: Int8Backend())),
                      ("f32", try LlamaModel(file: file, backend: BLASBackend(threads: 2)))]
        defer { KernelTier.best.select(); Ops.setBLASThreads(1) }
        let tokens = (0..<64).map { Int32(1 + ($0 * 7919) % 49000) }
        for tier in KernelTier.supported {
            XCTAssertTrue(tier.select())
            let rows = tier == .ref ? 17 : 64  // the scalar twins take seconds per row batch
            for (label, model) in models {
                let vocab = model.config.vocabSize
                for threads in tier == .ref ? [1] : [1, 2] {
                    let session = model.makeSession(maxContext: 80, maxBatch: 64)
                    Ops.setBLASThreads(threads)
                    let all = try session.forward(Array(tokens[0..<rows]), at: 0, allLogits: true)
                    let batch = Array(UnsafeBufferPointer(start: all, count: rows * vocab))
                    session.truncate(to: 0)
                    Ops.setBLASThreads(1)
                    for i in 0..<rows {
                        let one = try session.forward([tokens[i]], at: i)
                        let same = Array(UnsafeBufferPointer(start: one, count: vocab)) == Array(batch[(i * vocab)..<((i + 1) * vocab)])
                        XCTAssertTrue(same, "\(label), tier \(tier), \(threads) thread(s): row \(i) of \(rows) differs from decoding it alone")
                        if !same { break }
                    }
                }
            }
        }
    }
}
