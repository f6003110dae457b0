import GGUF

/// Token kinds (tokenizer.ggml.token_type).
public enum TokenType: Int, Sendable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case unsupportedModel(String)
    case unsupportedPreTokenizer(String)
    case malformedVocabulary(String)
    case invalidTokenId(Int32, vocabSize: Int)
    case unsupportedChatTemplate(String)

    public var description: String {
        switch self {
        case let .unsupportedModel(m): return "unsupported tokenizer model '\(m)' (supported: gpt2, llama)"
        case let .unsupportedPreTokenizer(p): return "unsupported pre-tokenizer '\(p)' (supported: gpt2, gpt-2, smollm, default for llama vocabularies)"
        case let .malformedVocabulary(d): return "malformed vocabulary: \(d)"
        case let .invalidTokenId(t, v): return "token id \(t) is outside the vocabulary (size \(v))"
        case let .unsupportedChatTemplate(d): return "unsupported chat template: \(d)"
        }
    }
}

/// The vocabulary as the GGUF metadata declares it.
public struct Vocabulary: Sendable {
    public let model: String
    public let preTokenizer: String
    public let tokens: [String]
    public let types: [TokenType]
    public let scores: [Float]
    public let merges: [String]
    public let bosId: Int32?
    public let eosId: Int32?
    public let padId: Int32?
    public let unknownId: Int32?
    public let addBOS: Bool
    public let addSpacePrefix: Bool
    public let chatTemplate: String?
    public let tokenToId: [String: Int32]

    public var count: Int { tokens.count }

    public init(file: GGUFFile) throws {
        model = try file.string("tokenizer.ggml.model")
        guard model == "gpt2" || model == "llama" else { throw TokenizerError.unsupportedModel(model) }
        preTokenizer = file.metadata["tokenizer.ggml.pre"] == nil ? "default" : try file.string("tokenizer.ggml.pre")
        tokens = try file.stringArray("tokenizer.ggml.tokens")
        guard !tokens.isEmpty else { throw TokenizerError.malformedVocabulary("tokenizer.ggml.tokens is empty") }
        let n = tokens.count
        if file.metadata["tokenizer.ggml.token_type"] != nil {
            let raw = try file.intArray("tokenizer.ggml.token_type")
            guard raw.count == n else {
                throw TokenizerError.malformedVocabulary("token_type has \(raw.count) entries for \(n) tokens")
            }
            types = raw.map { TokenType(rawValue: $0) ?? .undefined }
        } else {
            types = [TokenType](repeating: .normal, count: n)
        }
        if file.metadata["tokenizer.ggml.scores"] != nil {
            scores = try file.floatArray("tokenizer.ggml.scores")
            guard scores.count == n else { throw TokenizerError.malformedVocabulary("scores has \(scores.count) entries for \(n) tokens") }
        } else {
            scores = [Float](repeating: 0, count: n)
        }
        merges = file.metadata["tokenizer.ggml.merges"] == nil ? [] : try file.stringArray("tokenizer.ggml.merges")
        func id(_ key: String) throws -> Int32? {
            guard file.metadata[key] != nil else { return nil }
            let v = try file.int(key, in: -1...Int64(UInt32.max))
            guard v >= 0, v < n else { return nil }  // llama.cpp writes 0xFFFFFFFF / -1 for "none"
            return Int32(v)
        }
        bosId = try id("tokenizer.ggml.bos_token_id")
        eosId = try id("tokenizer.ggml.eos_token_id")
        padId = try id("tokenizer.ggml.padding_token_id")
        unknownId = try id("tokenizer.ggml.unknown_token_id")
        addBOS = file.metadata["tokenizer.ggml.add_bos_token"] == nil ? (model == "llama") : try file.bool("tokenizer.ggml.add_bos_token")
        addSpacePrefix = file.metadata["tokenizer.ggml.add_space_prefix"] == nil
            ? (model == "llama") : try file.bool("tokenizer.ggml.add_space_prefix")
        chatTemplate = file.metadata["tokenizer.chat_template"] == nil ? nil : try file.string("tokenizer.chat_template")
        var map: [String: Int32] = [:]
        map.reserveCapacity(n)
        for (i, t) in tokens.enumerated() where map[t] == nil { map[t] = Int32(i) }
        tokenToId = map
    }

    /// A stable fingerprint of everything that decides token identity (FNV-1a over model, token
    /// texts and types, and special ids), so two models can be checked for the same vocabulary.
    public var fingerprint: UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: some Sequence<UInt8>) { for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 } }
        mix(model.utf8)
        for (t, ty) in zip(tokens, types) { mix(t.utf8); mix([0xFF, UInt8(ty.rawValue)]) }
        for s in [bosId, eosId, padId, unknownId] { mix(String(s ?? -1).utf8) }
        return h
    }
}
