import GGUF
import Llama
import TensorCore
import TestSupport
import XCTest

/// The multi-branch forward Mirror-SD's draft uses: rows share the committed prefix and each sees
/// only its own ancestors.
final class TreeForwardTests: XCTestCase {
    static let tolerance: Float = 2e-5

    /// Logits of the last token of `tokens` in a fresh session (one batch).
    func alone(_ model: LlamaModel, _ tokens: [Int32]) throws -> [Float] {
        let s = model.makeSession(maxContext: 128, maxBatch: 64)
        let l = try s.forward(tokens, at: 0)
        return Array(UnsafeBufferPointer(start: l, count: model.config.vocabSize))
    }

    func check(backend: BackendChoice, seed: UInt64, kvFormat: KVFormat = .f32) throws {
        let model = try loadTiny(TinyLlama.gguf(seed: 3), backend: backend, kvFormat: kvFormat)
        let v = model.config.vocabSize
        var rng = SeededRNG(seed: seed)
        let prompt: [Int32] = (0..<5).map { _ in Int32(rng.next() % 96) }
        let session = model.makeSession(maxContext: 128, maxBatch: 16)
        try session.prefill(prompt, at: 0)
        // A random tree of 20 nodes fed in three batches; parents come before children.
        var parents: [Int32] = [], tokens: [Int32] = []
        var all: [[Float]] = []
        for batch in [7, 8, 5] {
            var bp: [Int32] = [], bt: [Int32] = []
            for _ in 0..<batch {
                let count = parents.count + bp.count
                bp.append(count == 0 || rng.next() % 4 == 0 ? -1 : Int32(rng.next() % UInt64(count)))
                bt.append(Int32(rng.next() % 96))
            }
            let out = try bt.withUnsafeBufferPointer { t in try bp.withUnsafeBufferPointer { try session.forwardTree(t, parents: $0) } }
            for r in 0..<batch { all.append(Array(UnsafeBufferPointer(start: out + r * v, count: v))) }
            parents += bp
            tokens += bt
        }
        XCTAssertEqual(session.pendingCount, 20)
        func path(_ node: Int) -> [Int32] {
            var p: [Int32] = [], a = node
            while a >= 0 { p.insert(Int32(a), at: 0); a = Int(parents[a]) }
            return p
        }
        for node in 0..<20 {
            let want = try alone(model, prompt + path(node).map { tokens[Int($0)] })
            let d = want.withUnsafeBufferPointer { w in all[node].withUnsafeBufferPointer { maxRelDiff(w.baseAddress!, $0.baseAddress!, v) } }
            XCTAssertLessThan(d, Self.tolerance, "\(backend), \(kvFormat) cache: node \(node)")
        }
        // Keep the deepest node's path, then continue: as if only that branch had ever run.
        let deepest = (0..<20).max { path($0).count < path($1).count }!
        let kept = path(deepest)
        try kept.withUnsafeBufferPointer { try session.commitTree(path: $0) }
        XCTAssertEqual(session.kvLength, prompt.count + kept.count)
        XCTAssertEqual(session.pendingCount, 0)
        let more: [Int32] = [9, 8, 7]
        let got = try session.forward(more, at: session.kvLength)
        let want = try alone(model, prompt + kept.map { tokens[Int($0)] } + more)
        XCTAssertLessThan(want.withUnsafeBufferPointer { maxRelDiff($0.baseAddress!, got, v) }, Self.tolerance, "\(backend), \(kvFormat) cache: after commit")
    }

    func testEachBranchEqualsRunningItAloneAndCommitKeepsOnlyThatBranch() throws {
        for seed in [1, 2, 3] as [UInt64] {
            try check(backend: .blas, seed: seed)
            try check(backend: .int8, seed: seed)
            // The commit moves fp16 rows of the cache as well as fp32 ones.
            try check(backend: .blas, seed: seed, kvFormat: .f16)
        }
    }

    func testInvalidParentsAndPlainForwardDuringATreeAreRefused() throws {
        let model = try loadTiny()
        let s = model.makeSession(maxContext: 64, maxBatch: 8)
        try s.prefill([1, 2], at: 0)
        XCTAssertThrowsError(try [Int32(3)].withUnsafeBufferPointer { t in try [Int32(0)].withUnsafeBufferPointer { try s.forwardTree(t, parents: $0) } })
        try [Int32(3), 4].withUnsafeBufferPointer { t in try [Int32(-1), 0].withUnsafeBufferPointer { _ = try s.forwardTree(t, parents: $0) } }
        XCTAssertThrowsError(try s.forward([5], at: 4)) { XCTAssertEqual($0 as? LlamaError, .treePending(2)) }
        XCTAssertThrowsError(try [Int32(1)].withUnsafeBufferPointer { try s.commitTree(path: $0) })  // node 1's parent is 0, not the root
        s.truncate(to: 2)
        XCTAssertEqual(s.pendingCount, 0)
        _ = try s.forward([5], at: 2)
    }
}
