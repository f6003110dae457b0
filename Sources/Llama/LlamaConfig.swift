import GGUF

/// Hyperparameters from `llama.*` metadata, validated so the forward pass can trust them.
public struct LlamaConfig: Sendable, Equatable {
    public var dim: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var ffnDim: Int
    public var vocabSize: Int
    public var contextLength: Int
    public var normEps: Float
    public var ropeBase: Float

    public var qDim: Int { heads * headDim }
    public var kvDim: Int { kvHeads * headDim }

    public init(dim: Int, layers: Int, heads: Int, kvHeads: Int, ffnDim: Int, vocabSize: Int, contextLength: Int,
                normEps: Float = 1e-5, ropeBase: Float = 10000) {
        self.dim = dim
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = heads > 0 ? dim / heads : 0
        self.ffnDim = ffnDim
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.normEps = normEps
        self.ropeBase = ropeBase
    }

    public init(file: GGUFFile) throws {
        let arch = try file.string("general.architecture")
        guard arch == "llama" else { throw LlamaError.unsupportedArchitecture(arch) }
        let big: ClosedRange<Int64> = 1...(1 << 24)
        dim = try file.int("llama.embedding_length", in: big)
        layers = try file.int("llama.block_count", in: 1...4096)
        heads = try file.int("llama.attention.head_count", in: 1...4096)
        kvHeads = file.metadata["llama.attention.head_count_kv"] == nil
            ? heads : try file.int("llama.attention.head_count_kv", in: 1...4096)
        ffnDim = try file.int("llama.feed_forward_length", in: big)
        contextLength = try file.int("llama.context_length", in: 1...(1 << 24))
        normEps = try file.float("llama.attention.layer_norm_rms_epsilon")
        ropeBase = file.metadata["llama.rope.freq_base"] == nil ? 10000 : try file.float("llama.rope.freq_base")
        if file.metadata["llama.vocab_size"] != nil {
            vocabSize = try file.int("llama.vocab_size", in: big)
        } else {
            vocabSize = try file.array("tokenizer.ggml.tokens").count
        }
        headDim = dim / heads
        try validate()
        if file.metadata["llama.rope.dimension_count"] != nil {
            let nRot = try file.int("llama.rope.dimension_count", in: big)
            guard nRot == headDim else {
                throw LlamaError.invalidConfig("llama.rope.dimension_count is \(nRot) but the head size is \(headDim)")
            }
        }
    }

    public func validate() throws {
        guard dim > 0, layers > 0, heads > 0, kvHeads > 0, ffnDim > 0, vocabSize > 0, contextLength > 0 else {
            throw LlamaError.invalidConfig("sizes must be positive")
        }
        guard dim % heads == 0 else { throw LlamaError.invalidConfig("head count \(heads) does not divide the width \(dim)") }
        guard heads % kvHeads == 0 else {
            throw LlamaError.invalidConfig("KV head count \(kvHeads) does not divide the head count \(heads)")
        }
        guard headDim % 2 == 0 else { throw LlamaError.invalidConfig("head size \(headDim) must be even for RoPE") }
        guard normEps.isFinite, normEps > 0 else { throw LlamaError.invalidConfig("RMS norm epsilon \(normEps) must be positive") }
        guard ropeBase.isFinite, ropeBase > 0 else { throw LlamaError.invalidConfig("RoPE base \(ropeBase) must be positive") }
    }
}

public enum LlamaError: Error, CustomStringConvertible, Equatable {
    case unsupportedArchitecture(String)
    case invalidConfig(String)
    case missingTensor(String)
    case shapeMismatch(tensor: String, expected: [Int], actual: [Int])
    case contextFull(needed: Int, capacity: Int)
    case batchTooLarge(rows: Int, capacity: Int)
    case positionMismatch(expected: Int, got: Int)
    case tokenOutOfRange(token: Int32, vocabSize: Int)
    case invalidLayerRange(Range<Int>, layers: Int)
    case treePending(Int)
    case invalidTreeParent(row: Int, parent: Int)
    case slotOutOfRange(slot: Int, slots: Int)
    case slotTwiceInBatch(slot: Int)

    public var description: String {
        switch self {
        case let .unsupportedArchitecture(a): return "unsupported architecture '\(a)' (only 'llama' is supported)"
        case let .invalidConfig(d): return "invalid model configuration: \(d)"
        case let .missingTensor(t): return "model file has no tensor '\(t)'"
        case let .shapeMismatch(t, e, a): return "tensor '\(t)' has shape \(a), expected \(e)"
        case let .contextFull(n, c): return "context is full: \(n) positions needed, \(c) available"
        case let .batchTooLarge(r, c): return "batch of \(r) rows exceeds the session's capacity of \(c)"
        case let .positionMismatch(e, g): return "tokens must be appended at position \(e) (the KV length), not \(g)"
        case let .tokenOutOfRange(t, v): return "token id \(t) is outside the vocabulary (size \(v))"
        case let .invalidLayerRange(r, n): return "layer range \(r) is not inside 0..<\(n)"
        case let .treePending(n): return "\(n) speculative tree nodes are pending: commit or truncate them first"
        case let .invalidTreeParent(r, p): return "tree row \(r) has an invalid parent \(p)"
        case let .slotOutOfRange(s, n): return "sequence slot \(s) is outside 0..<\(n)"
        case let .slotTwiceInBatch(s): return "sequence slot \(s) already has a chunk in this forward"
        }
    }
}
