import Generation
import LanguageModels
#if canImport(Glibc)
import Glibc
#endif
import GGUF
import Tokenizer

/// A deterministic toy language model: its logits after a context are a seeded function of the last
/// `order` tokens, so speculative decoders can be tested without weights. `skew` shifts the
/// distribution (a draft that disagrees with its target), `agreement` chooses per context whether
/// this model copies the target's logits or a shifted copy.
public final class ToyLM: LanguageModel, TreeLanguageModel, EarlyExitLanguageModel, @unchecked Sendable {
    // Sendable: a toy model is used by one thread at a time (the worker that owns it).
    public let vocabSize: Int
    public let maxContext: Int
    public private(set) var context: [Int32] = []
    /// Pending tree nodes after `context`: (token, parent node or -1).
    public private(set) var pending: [(token: Int32, parent: Int)] = []
    /// Scripted latency of every forward (and of the whole layer stack in early-exit use).
    public var latency: Double = 0
    /// Scripted latency per row of a tree forward, on top of `latency` (a batch that grows with rows).
    public var rowLatency: Double = 0
    /// Logits after a context of at least this many tokens hold a NaN (a broken model mid-generation).
    public var nanAfter: Int? = nil
    /// How far the early-exit proxy is from the final logits (0: identical).
    public var proxyNoise: Float = 0
    public let layerCount = 4
    var batch: [Int32] = []
    var batchStart = 0
    var layersDone = 0
    let seed: UInt64
    let order: Int
    let sharpness: Float
    /// Per-context probability of agreeing with the base function (1: always, 0: never).
    let agreement: Double
    /// Where it disagrees, swap the top two logits instead of shifting them all: the base function's
    /// choice is then always this model's runner-up.
    let swapOnDisagree: Bool
    let logits: UnsafeMutablePointer<Float>
    public private(set) var forwardCalls = 0

    public init(vocabSize: Int = 16, maxContext: Int = 4096, seed: UInt64 = 1, order: Int = 2, sharpness: Float = 3,
                agreement: Double = 1, swapOnDisagree: Bool = false) {
        self.vocabSize = vocabSize
        self.maxContext = maxContext
        self.seed = seed
        self.order = order
        self.sharpness = sharpness
        self.agreement = agreement
        self.swapOnDisagree = swapOnDisagree
        logits = .allocate(capacity: vocabSize * 256)
    }

    deinit { logits.deallocate() }

    public var kvLength: Int { context.count + pending.count }
    public var committedLength: Int { context.count }
    public var pendingCount: Int { pending.count }

    public func truncate(to length: Int) {
        if length <= context.count {
            context.removeLast(context.count - length)
            pending.removeAll()
        } else {
            pending.removeLast(pending.count - (length - context.count))
        }
    }

    func pause(_ share: Double = 1) { if latency > 0 { usleep(UInt32(latency * share * 1e6)) } }

    public func forwardTree(_ tokens: UnsafeBufferPointer<Int32>, parents: UnsafeBufferPointer<Int32>) throws -> UnsafeMutablePointer<Float> {
        precondition(tokens.count <= 256 && context.count + pending.count + tokens.count <= maxContext)
        forwardCalls += 1
        pause()
        if rowLatency > 0 { usleep(UInt32(rowLatency * Double(tokens.count) * 1e6)) }
        for (r, t) in tokens.enumerated() {
            let p = Int(parents[r])
            precondition(p >= -1 && p < pending.count, "toy tree: bad parent \(p)")
            pending.append((t, p))
            var path: [Int32] = []
            var a = pending.count - 1
            while a >= 0 { path.insert(pending[a].token, at: 0); a = pending[a].parent }
            fill(logits + r * vocabSize, after: (context + path)[...])
        }
        return logits
    }

    public func commitTree(path: UnsafeBufferPointer<Int32>, keep: UnsafeBufferPointer<Int32>) throws {
        var expect = -1
        for n in Array(path) + Array(keep) {
            precondition(Int(n) < pending.count && pending[Int(n)].parent == expect, "toy tree: not a chain")
            expect = Int(n)
        }
        let kept = keep.map { pending[Int($0)].token }
        context += path.map { pending[Int($0)].token }
        pending = kept.enumerated().map { ($0.element, $0.offset - 1) }
    }

    public func beginBatch(_ tokens: UnsafeBufferPointer<Int32>, at position: Int) throws {
        precondition(pending.isEmpty && position == context.count)
        batch = Array(tokens)
        batchStart = position
        context += batch
        layersDone = 0
    }

    public func runLayers(_ range: Range<Int>) throws {
        precondition(range.lowerBound == layersDone)
        pause(Double(range.count) / Double(layerCount))
        layersDone = range.upperBound
    }

    public func batchLogits(vocabLimit: Int?) -> UnsafeMutablePointer<Float> {
        for r in 0..<batch.count {
            let row = logits + r * vocabSize
            fill(row, after: context[..<(batchStart + r + 1)])
            if layersDone < layerCount && proxyNoise > 0 {
                for i in 0..<vocabSize {
                    let h = Self.mix(UInt64(i) ^ UInt64(batchStart + r) &* 0x51 ^ 0xEE)
                    row[i] += Float(Double(h >> 11) / Double(1 << 53)) * proxyNoise
                }
            }
        }
        return logits
    }

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Logits after `ctx` (the base function is shared by every ToyLM with the same seed and order).
    func fill(_ out: UnsafeMutablePointer<Float>, after ctx: ArraySlice<Int32>) {
        var h: UInt64 = 0x1234
        for t in ctx.suffix(order) { h = Self.mix(h ^ UInt64(UInt32(bitPattern: t))) }
        let agrees = Double(Self.mix(h ^ 0xA9) >> 11) / Double(1 << 53) < agreement
        for i in 0..<vocabSize {
            let r = Self.mix(h ^ seed ^ UInt64(i) &* 0x100000001B3)
            out[i] = Float(Double(r >> 11) / Double(1 << 53)) * sharpness
        }
        if !agrees && swapOnDisagree {
            var a = 0, b = 1
            if out[b] > out[a] { swap(&a, &b) }
            for i in 2..<vocabSize where out[i] > out[b] {
                if out[i] > out[a] { b = a; a = i } else { b = i }
            }
            (out[a], out[b]) = (out[b], out[a])
        } else if !agrees {  // shift by one token: the argmax moves, the shape stays
            let first = out[0]
            for i in 0..<(vocabSize - 1) { out[i] = out[i + 1] }
            out[vocabSize - 1] = first
        }
        if let n = nanAfter, ctx.count >= n { out[vocabSize / 2] = .nan }
    }

    public func forward(_ tokens: UnsafeBufferPointer<Int32>, at position: Int, allLogits: Bool) throws -> UnsafeMutablePointer<Float> {
        precondition(pending.isEmpty && position == context.count, "toy model: append at \(context.count), not \(position)")
        pause()
        precondition(context.count + tokens.count <= maxContext && tokens.count <= 256)
        forwardCalls += 1
        for (r, t) in tokens.enumerated() {
            context.append(t)
            if allLogits || r == tokens.count - 1 {
                fill(logits + (allLogits ? r : 0) * vocabSize, after: context[...])
            }
        }
        return logits
    }
}

/// A minimal byte-level vocabulary for toy models (token i is the byte i + 65; id 0 is EOS-free).
public enum ToyVocabulary {
    /// The 16-token vocabulary, built once: XCTest keeps every test case object alive until exit, so
    /// one per test case would be reported as leaked by the leak sanitizer.
    public static let standard: Tokenizer = try! tokenizer()

    public static func tokenizer(size: Int = 16) throws -> Tokenizer {
        var w = GGUFWriter()
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.pre", .string("gpt2"))
        // Every byte must have a token for the byte-level BPE; the toy ids are the first `size`.
        let letters = (0..<size).map { String(UnicodeScalar(UInt8(65 + $0))) }
        var tokens = letters
        for b in 0..<256 {
            let s = String(ByteLevelScalars.scalar(UInt8(b)))
            if !tokens.contains(s) { tokens.append(s) }
        }
        w.set("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) }))
        w.set("tokenizer.ggml.merges", .array(.string, []))
        return try Tokenizer(file: GGUFFile(bytes: w.serialize()))
    }
}

enum ByteLevelScalars {
    static func scalar(_ b: UInt8) -> Unicode.Scalar {
        var next: UInt32 = 256
        for x in 0..<256 {
            let printable = (33...126).contains(x) || (161...172).contains(x) || (174...255).contains(x)
            if x == Int(b) { return printable ? Unicode.Scalar(UInt32(x))! : Unicode.Scalar(next)! }
            if !printable { next += 1 }
        }
        fatalError()
    }
}
