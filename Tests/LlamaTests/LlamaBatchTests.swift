import BackendBLAS
import BackendQuantized
import GGUF
import Llama
import TensorCore
import TestSupport
import XCTest

/// Several sequences in one forward give each row the bits of running its sequence alone, whatever
/// joins the batch when, on every backend.
final class LlamaBatchTests: XCTestCase {
    /// Logits rows of a sequence run alone: its prompt, then `steps` greedy tokens.
    func solo(_ model: LlamaModel, prompt: [Int32], steps: Int) throws -> [[Float]] {
        let s = model.makeSession(maxContext: 128, maxBatch: 64)
        let v = model.config.vocabSize
        var rows: [[Float]] = []
        var logits = try s.prefill(prompt, at: 0)
        for i in 0..<steps {
            rows.append(Array(UnsafeBufferPointer(start: logits, count: v)))
            let next = Int32(argmax(logits, v))
            logits = try s.forward([next], at: prompt.count + i)
        }
        rows.append(Array(UnsafeBufferPointer(start: logits, count: v)))
        return rows
    }

    func argmax(_ p: UnsafePointer<Float>, _ n: Int) -> Int {
        var best = 0
        for i in 1..<n where p[i] > p[best] { best = i }
        return best
    }

    func testRowsOfSeveralSequencesAreBitIdenticalToEachAlone() throws {
        let path: String
        do { path = try Paths.requireModel() } catch is Paths.SkipModel { throw XCTSkip("MIRRORSD_SKIP_MODEL_TESTS=1") }
        let file = try GGUFFile(path: path)
        defer { Ops.setBLASThreads(1) }
        let prompts: [[Int32]] = [(0..<40).map { Int32(1 + ($0 * 7919) % 49000) }, (0..<23).map { Int32(5 + ($0 * 104729) % 49000) },
                                  (0..<7).map { Int32(11 + ($0 * 1299709) % 49000) }]
        let steps = 6
        for (label, model) in [("native", try LlamaModel(file: file, backend: NativeBackend(threads: 2, unquantized: BLASBackend(threads: 2)))),
                               ("native, fp16 KV cache", try LlamaModel(file: file, backend: NativeBackend(threads: 2, unquantized: BLASBackend(threads: 2)), kvFormat: .f16)),
                               ("f32", try LlamaModel(file: file, backend: BLASBackend(threads: 1))),
                               ("int8", try LlamaModel(file: file, backend: Int8Backend()))] {
            let want = try prompts.map { try solo(model, prompt: $0, steps: steps) }
            let v = model.config.vocabSize
            let batch = LlamaBatch(model: model, slots: 3, maxContext: 128, maxRows: 48)
            // Sequence 0 prefills in chunks of 16 and 24; 1 joins in the second forward (13 + 10 rows);
            // 2 joins once the others decode, and prefills in one chunk beside their decode rows.
            var got = [[[Float]]](repeating: [], count: 3)
            var next = [Int32?](repeating: nil, count: 3)
            var fed = [0, 0, 0]
            var forward = 0
            while got.enumerated().contains(where: { $0.element.count < steps + 1 }) {
                var asked: [Int] = []
                for s in 0..<3 where got[s].count < steps + 1 {
                    if let t = next[s] {
                        try [t].withUnsafeBufferPointer { try batch.add(slot: s, tokens: $0, logits: .last) }
                        asked.append(s)
                        continue
                    }
                    let chunk: Int
                    switch (s, forward) {
                    case (0, 0): chunk = 16
                    case (0, _): chunk = 24
                    case (1, 0), (2, 0..<3): continue
                    case (1, 1): chunk = 13
                    case (1, _): chunk = 10
                    default: chunk = 7
                    }
                    let end = fed[s] + chunk
                    try prompts[s].withUnsafeBufferPointer {
                        try batch.add(slot: s, tokens: UnsafeBufferPointer(rebasing: $0[fed[s]..<end]), logits: end == prompts[s].count ? .last : .none)
                    }
                    fed[s] = end
                    if end == prompts[s].count { asked.append(s) }
                }
                let logits = batch.run()
                for (i, s) in asked.enumerated() {
                    let row = logits + i * v
                    got[s].append(Array(UnsafeBufferPointer(start: row, count: v)))
                    next[s] = Int32(argmax(row, v))
                }
                forward += 1
            }
            for s in 0..<3 {
                for (i, (a, b)) in zip(got[s], want[s]).enumerated() {
                    XCTAssertTrue(a == b, "\(label): sequence \(s), logits row \(i) differs from the sequence run alone")
                }
            }
            XCTAssertEqual(batch.lengths, prompts.map { $0.count + steps })
        }
    }

    func testBadChunksAreRefusedAndLeaveTheBatchUsable() throws {
        let model = try LlamaModel(file: try GGUFFile(bytes: TinyLlama.gguf()), backend: BLASBackend())
        let batch = LlamaBatch(model: model, slots: 2, maxContext: 8, maxRows: 4)
        func add(_ slot: Int, _ tokens: [Int32]) throws { try tokens.withUnsafeBufferPointer { try batch.add(slot: slot, tokens: $0, logits: .last) } }
        XCTAssertThrowsError(try add(2, [1]))
        XCTAssertThrowsError(try add(0, [1, 2, 3, 4, 5]))
        XCTAssertThrowsError(try add(0, [-1]))
        try add(0, [1, 2])
        XCTAssertThrowsError(try add(0, [3]), "one chunk per sequence per forward")
        batch.discardAdded()
        XCTAssertEqual(batch.lengths, [0, 0])
        try add(0, [1, 2])
        try add(1, [3])
        batch.run()
        XCTAssertEqual(batch.lengths, [2, 1])
        batch.truncate(slot: 0, to: 0)
        XCTAssertThrowsError(try add(1, [1, 2, 3, 4, 5, 6, 7, 8]))
    }
}
