import Compute
import GGUF
import LanguageModels
import TensorCore

/// The weights of an EAGLE-style draft (Li et al., 2024): one llama block over the target's embedding and
/// head that reads, beside each token, the target's last hidden state at the position before it. Row q
/// holds (f_{q-1}, x_q):
///
///     in_q = W · [rms_norm(f_{q-1}) ⊙ g ; embed(x_q)]     W: dim × 2·dim, g: `eagle.in_norm`
///     y_q  = block(in_≤q),  logits_q = head(rms_norm(y_q) ⊙ output_norm)
///
/// y_q is the draft's guess of the target's f_q, which it reads in place of f_q past the positions the
/// target has verified. The file is a llama GGUF with one block plus `eagle.fc.weight` [2·dim, dim] and
/// `eagle.in_norm.weight` [dim], `mirrorsd.draft.kind` = "eagle" and the target's fingerprint
/// (tools/draft/eagle.py trains it; export.py writes an eagle.py checkpoint in this form).
public final class FeatureDraftModel: Sendable {
    public let llama: LlamaModel
    let fc: any LinearWeight
    let inNorm: FloatBuffer

    public static let kindKey = "mirrorsd.draft.kind"
    public static let kind = "eagle"
    public static let fingerprintKey = "mirrorsd.eagle.target_fingerprint"
    public static let targetNameKey = "mirrorsd.eagle.target_name"

    /// Whether `file` holds a feature draft (its kind key says so).
    public static func isFeatureDraft(_ file: GGUFFile) -> Bool {
        (try? file.string(kindKey)) == kind
    }

    /// Binds the draft in `file` to `backend`, after checking it was trained on the target in `targetFile`
    /// (the same `LlamaModel.fingerprint`, so any quantization of it).
    public init(file: GGUFFile, backend: any ComputeBackend, targetFile: GGUFFile) throws {
        let path = file.displayPath
        guard Self.isFeatureDraft(file) else { throw FeatureDraftError.notAFeatureDraft(path: path) }
        let fp = try file.string(Self.fingerprintKey)
        let targetFP = try LlamaModel.fingerprint(of: targetFile)
        guard fp == targetFP else {
            let name = (try? file.string(Self.targetNameKey)) ?? "another model"
            throw FeatureDraftError.otherTarget(path: path, trainedFor: name, fingerprint: fp, target: targetFP)
        }
        llama = try LlamaModel(file: file, backend: backend)
        let d = llama.config.dim, targetDim = try LlamaConfig(file: targetFile).dim
        guard d == targetDim else {
            throw FeatureDraftError.shape(path: path, detail: "width \(d), the target's is \(targetDim)")
        }
        guard let fi = file.tensor(named: "eagle.fc.weight"), fi.dims == [2 * d, d] else {
            throw FeatureDraftError.shape(path: path, detail: "'eagle.fc.weight' must be [\(2 * d), \(d)], is \(file.tensor(named: "eagle.fc.weight")?.dims ?? [])")
        }
        guard let ni = file.tensor(named: "eagle.in_norm.weight"), ni.dims == [d] else {
            throw FeatureDraftError.shape(path: path, detail: "'eagle.in_norm.weight' must be [\(d)], is \(file.tensor(named: "eagle.in_norm.weight")?.dims ?? [])")
        }
        fc = try backend.prepare(fi, bytes: file.bytes(of: fi))
        inNorm = try Dequantize.toFloatBuffer(ni, bytes: file.bytes(of: ni))
    }

    /// Multiply-accumulates per drafted token: the block, the input projection and the head.
    public var macsPerToken: Int { llama.macsPerToken + fc.inFeatures * fc.outFeatures }
}

public enum FeatureDraftError: Error, CustomStringConvertible, Equatable {
    case notAFeatureDraft(path: String)
    case otherTarget(path: String, trainedFor: String, fingerprint: String, target: String)
    case shape(path: String, detail: String)

    public var description: String {
        switch self {
        case let .notAFeatureDraft(p): return "'\(p)' is not a feature (EAGLE-style) draft: its \(FeatureDraftModel.kindKey) is not '\(FeatureDraftModel.kind)'"
        case let .otherTarget(p, n, f, t):
            return "draft '\(p)' reads the hidden states of \(n) (fingerprint \(f)), not of this target (fingerprint \(t))"
        case let .shape(p, d): return "feature draft '\(p)': \(d)"
        }
    }
}

/// A `FeatureDraftModel` running: a language model over token positions, fed by the target's features.
///
/// Row q reads f_{q-1} from `features` when the target has verified position q-1, and otherwise its own
/// y_{q-1}. A batch is split wherever a row needs the y of a row in the same batch. When the target later
/// verifies positions whose rows were computed from guesses, the next forward recomputes those rows from
/// the real features first (as EAGLE does), which is invisible to the caller.
public final class FeatureDraft: LanguageModel, PrefillCapable, @unchecked Sendable {
    // Sendable: owned by one thread at a time, as a LlamaSession is.
    public let weights: FeatureDraftModel
    public let session: LlamaSession
    public let features: TargetFeatures
    let dim: Int
    let own: FloatBuffer         // y at every KV slot: [maxContext][dim]
    let input: FloatBuffer       // [maxBatch][2·dim]
    let zeros: FloatBuffer       // the feature before position 0
    let logits: FloatBuffer      // [maxBatch][vocab] for allLogits across chunks
    let scratch: UnsafeMutableRawPointer
    var tokens: [Int32] = []
    /// KV slots 0..<exact were computed from the target's own features.
    var exact = 0

    public init(weights: FeatureDraftModel, features: TargetFeatures, maxContext: Int, maxBatch: Int = 64) {
        self.weights = weights
        self.features = features
        session = weights.llama.makeSession(maxContext: maxContext, maxBatch: maxBatch)
        dim = weights.llama.config.dim
        own = FloatBuffer(count: session.maxContext * dim)
        input = FloatBuffer(count: session.maxBatch * 2 * dim)
        zeros = FloatBuffer(count: dim)
        logits = FloatBuffer(count: session.maxBatch * weights.llama.config.vocabSize)
        scratch = UnsafeMutableRawPointer.allocate(
            byteCount: max(weights.llama.backend.scratchBytes(rows: session.maxBatch, maxIn: 2 * dim), 64), alignment: 64)
        tokens.reserveCapacity(session.maxContext)
    }

    deinit { scratch.deallocate() }

    public var vocabSize: Int { weights.llama.config.vocabSize }
    public var kvLength: Int { tokens.count }
    public var maxContext: Int { session.maxContext }

    public func truncate(to length: Int) {
        precondition(length >= 0 && length <= tokens.count, "truncate(to: \(length)) outside 0...\(tokens.count)")
        tokens.removeLast(tokens.count - length)
        session.truncate(to: min(session.kvLength, length))
        exact = min(exact, length)
    }

    /// Row q's feature is the target's when it has verified position q-1.
    @inline(__always) func hasRealFeature(_ q: Int) -> Bool { q == 0 || q - 1 < features.count }

    public func forward(_ new: UnsafeBufferPointer<Int32>, at position: Int, allLogits: Bool) throws -> UnsafeMutablePointer<Float> {
        guard position == tokens.count else { throw LlamaError.positionMismatch(expected: tokens.count, got: position) }
        guard !new.isEmpty else { throw LlamaError.batchTooLarge(rows: 0, capacity: session.maxBatch) }
        guard !allLogits || new.count <= session.maxBatch else { throw LlamaError.batchTooLarge(rows: new.count, capacity: session.maxBatch) }
        guard position + new.count <= session.maxContext else {
            throw LlamaError.contextFull(needed: position + new.count, capacity: session.maxContext)
        }
        for t in new where t < 0 || Int(t) >= vocabSize { throw LlamaError.tokenOutOfRange(token: t, vocabSize: vocabSize) }
        // Rows computed from guesses that the target has since verified are redone from its features
        // (real features cover a prefix of the slots, so it is enough to look at the first guessed one).
        let start = hasRealFeature(exact) ? exact : position
        tokens.append(contentsOf: new)
        session.truncate(to: start)
        let v = vocabSize
        var s = start
        var last: UnsafeMutablePointer<Float>! = nil
        while s < tokens.count {
            // Row s can always run (its feature is real or a y already computed); later rows join it while
            // their features are real.
            var e = s + 1
            while e < tokens.count, e - s < session.maxBatch, hasRealFeature(e) { e += 1 }
            // Redone rows (before `position`) need no logits.
            let first = max(s, position)
            last = try run(rows: s..<e, logitsFrom: allLogits ? min(first, e - 1) : e - 1)
            if allLogits {
                for q in first..<e {
                    (logits.pointer + (q - position) * v).update(from: last + (q - first) * v, count: v)
                }
            }
            s = e
        }
        return allLogits ? logits.pointer : last
    }

    /// One causal batch over slots `rows`; the logits of slots `logitsFrom..<rows.upperBound`.
    private func run(rows: Range<Int>, logitsFrom: Int) throws -> UnsafeMutablePointer<Float> {
        let n = rows.count
        try tokens.withUnsafeBufferPointer { try session.begin(tokens: UnsafeBufferPointer(rebasing: $0[rows]), at: rows.lowerBound) }
        let d = dim, eps = session.config.normEps
        for (r, q) in rows.enumerated() {
            let f: UnsafePointer<Float>
            if q == 0 { f = UnsafePointer(zeros.pointer) }
            else if q - 1 < features.count { f = features.row(q - 1) }
            else { f = UnsafePointer(own.pointer + (q - 1) * d) }
            let row = input.pointer + r * 2 * d
            Ops.rmsnorm(row, f, weight: weights.inNorm.pointer, n: d, eps: eps)
            (row + d).update(from: session.x.pointer + r * d, count: d)  // begin() embedded the token there
        }
        weights.fc.apply(input.pointer, rows: n, into: session.x.pointer, scratch: scratch)
        try session.runLayers(0..<session.config.layers)
        (own.pointer + rows.lowerBound * d).update(from: session.hidden, count: n * d)
        if exact == rows.lowerBound {
            while exact < rows.upperBound, hasRealFeature(exact) { exact += 1 }
        }
        return session.computeLogits(rows: (logitsFrom - rows.lowerBound)..<n)
    }

    public func prefillChunked(_ tokens: [Int32]) throws -> UnsafeMutablePointer<Float> {
        try tokens.withUnsafeBufferPointer { try forward($0, at: kvLength, allLogits: false) }
    }
}
