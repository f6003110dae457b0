import Compute
import GGUF
import TensorCore

/// One transformer block's weights.
public struct LlamaLayer: Sendable {
    public let attnNorm: FloatBuffer
    /// attn_q, attn_k and attn_v stacked: one product gives [q | k | v].
    public let wqkv: any LinearWeight
    public let wo: any LinearWeight
    public let ffnNorm: FloatBuffer
    /// ffn_gate and ffn_up stacked: one product gives [gate | up].
    public let w13: any LinearWeight
    public let w2: any LinearWeight  // ffn_down
    /// Optional `ffn_down.bias` (llama.cpp loads it for the llama architecture too). MirrorSD's
    /// distilled drafts use one on their last block to stand in for the deep layers' large activation.
    public let ffnDownBias: FloatBuffer?
}

/// A Llama-architecture model bound to one backend. Immutable and shared; each thread that runs it
/// makes its own `LlamaSession`.
public final class LlamaModel: Sendable {
    public let config: LlamaConfig
    public let backendName: String
    public let layers: [LlamaLayer]
    public let tokenEmbedding: any LinearWeight
    public let output: any LinearWeight
    public let outputNorm: FloatBuffer
    public let tiedEmbeddings: Bool
    /// Output rows actually computed: the first `headVocab` token ids (GGUF key `mirrorsd.head_vocab`,
    /// written for drafts trained with a restricted head); every other logit is -infinity.
    public let headVocab: Int
    /// Identifies the weights across quantizations (see `fingerprint(config:norms:)`): exit lenses name it.
    public let fingerprint: String
    let backend: any ComputeBackend
    /// Attention runs over the helper threads when the products do.
    let threadedAttention: Bool
    /// How the KV caches of this model's sessions and batches store keys and values.
    public let kvFormat: KVFormat

    /// Binds every tensor by name with its expected shape (ggml order).
    public init(file: GGUFFile, backend: any ComputeBackend, kvFormat: KVFormat = .f32) throws {
        let c = try LlamaConfig(file: file)
        config = c
        self.kvFormat = kvFormat
        backendName = backend.name
        self.backend = backend
        threadedAttention = backend.threads > 1

        func info(_ name: String, _ expected: [Int]) throws -> GGUFTensorInfo {
            guard let t = file.tensor(named: name) else { throw LlamaError.missingTensor(name) }
            var actual = t.dims
            while actual.count > expected.count, actual.last == 1 { actual.removeLast() }
            guard actual == expected else { throw LlamaError.shapeMismatch(tensor: name, expected: expected, actual: t.dims) }
            return t
        }
        func matrix(_ name: String, in inF: Int, out: Int) throws -> any LinearWeight {
            try stack([(name, out)], in: inF)
        }
        func stack(_ parts: [(String, Int)], in inF: Int) throws -> any LinearWeight {
            let infos = try parts.map { try info($0.0, [inF, $0.1]) }
            return try backend.prepare(stacking: infos.map { ($0, file.bytes(of: $0)) })
        }
        func vector(_ name: String, _ n: Int) throws -> FloatBuffer {
            let t = try info(name, [n])
            return try Dequantize.toFloatBuffer(t, bytes: file.bytes(of: t))
        }

        var layers: [LlamaLayer] = []
        for l in 0..<c.layers {
            let p = "blk.\(l)."
            layers.append(LlamaLayer(
                attnNorm: try vector(p + "attn_norm.weight", c.dim),
                wqkv: try stack([(p + "attn_q.weight", c.qDim), (p + "attn_k.weight", c.kvDim),
                                 (p + "attn_v.weight", c.kvDim)], in: c.dim),
                wo: try matrix(p + "attn_output.weight", in: c.qDim, out: c.dim),
                ffnNorm: try vector(p + "ffn_norm.weight", c.dim),
                w13: try stack([(p + "ffn_gate.weight", c.ffnDim), (p + "ffn_up.weight", c.ffnDim)], in: c.dim),
                w2: try matrix(p + "ffn_down.weight", in: c.ffnDim, out: c.dim),
                ffnDownBias: file.tensor(named: p + "ffn_down.bias") != nil ? try vector(p + "ffn_down.bias", c.dim) : nil))
        }
        self.layers = layers
        outputNorm = try vector("output_norm.weight", c.dim)
        tokenEmbedding = try matrix("token_embd.weight", in: c.dim, out: c.vocabSize)
        if file.tensor(named: "output.weight") != nil {
            output = try matrix("output.weight", in: c.dim, out: c.vocabSize)
            tiedEmbeddings = false
        } else {
            output = tokenEmbedding
            tiedEmbeddings = true
        }
        if file.metadata[LlamaModel.headVocabKey] != nil {
            headVocab = try file.int(LlamaModel.headVocabKey, in: 1...Int64(c.vocabSize))
        } else {
            headVocab = c.vocabSize
        }
        fingerprint = LlamaModel.fingerprint(config: c, norms: layers.flatMap { [$0.attnNorm, $0.ffnNorm] } + [outputNorm])
    }

    public static let headVocabKey = "mirrorsd.head_vocab"

    /// Bytes of weights read per single-token forward (every matrix once, the embedding row aside).
    public var weightBytesPerToken: Int {
        var total = output.byteCount
        for l in layers {
            total += l.wqkv.byteCount + l.wo.byteCount + l.w13.byteCount + l.w2.byteCount
            total += l.attnNorm.bytes + l.ffnNorm.bytes
        }
        return total + outputNorm.bytes
    }

    /// Multiply-accumulates per token in the matrices (attention scores excluded).
    public var macsPerToken: Int {
        let c = config
        return c.layers * (c.dim * c.qDim + 2 * c.dim * c.kvDim + c.qDim * c.dim + 3 * c.dim * c.ffnDim) + c.dim * headVocab
    }

    public func makeSession(maxContext: Int? = nil, maxBatch: Int = 64) -> LlamaSession {
        LlamaSession(model: self, maxContext: min(maxContext ?? config.contextLength, config.contextLength),
                     maxBatch: max(1, maxBatch))
    }

    func scratchBytes(rows: Int) -> Int {
        backend.scratchBytes(rows: rows, maxIn: max(config.dim, config.ffnDim, config.qDim))
    }
}
