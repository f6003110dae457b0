import GGUF

/// Text <-> token ids, built from GGUF metadata alone.
public final class Tokenizer: Sendable {
    public let vocab: Vocabulary
    enum Model { case bpe(BPEModel), spm(SPMModel) }
    let model: Model
    /// Special tokens that can be matched in text, longest first: (scalars, id, control?).
    let specials: [(text: [Unicode.Scalar], id: Int32, control: Bool)]
    /// Decoded bytes per token; control tokens decode to their text only when asked.
    let pieces: [[UInt8]]

    public convenience init(file: GGUFFile) throws { try self.init(vocab: Vocabulary(file: file)) }

    public init(vocab: Vocabulary) throws {
        self.vocab = vocab
        switch vocab.model {
        case "gpt2": model = .bpe(try BPEModel(vocab: vocab))
        default: model = .spm(SPMModel(vocab: vocab))
        }
        var sp: [(text: [Unicode.Scalar], id: Int32, control: Bool)] = []
        for (i, t) in vocab.tokens.enumerated() where !t.isEmpty {
            switch vocab.types[i] {
            case .control: sp.append((Array(t.unicodeScalars), Int32(i), true))
            case .userDefined: sp.append((Array(t.unicodeScalars), Int32(i), false))
            default: break
            }
        }
        specials = sp.sorted { $0.text.count > $1.text.count }
        let isBPE = vocab.model == "gpt2"
        pieces = vocab.tokens.enumerated().map { i, t in
            switch vocab.types[i] {
            case .control, .userDefined, .unknown, .unused: return Array(t.utf8)
            case .byte:
                // "<0xNN>"
                if t.utf8.count == 6, let b = UInt8(t.dropFirst(3).prefix(2), radix: 16) { return [b] }
                return Array(t.utf8)
            default:
                if isBPE { return ByteLevel.decode(t) ?? Array(t.utf8) }
                return Array(t.replacingSpaceMarks().utf8)
            }
        }
    }

    public var vocabularySize: Int { vocab.count }
    public var eosId: Int32? { vocab.eosId }
    public var bosId: Int32? { vocab.bosId }

    /// Token ids of `text`. Control tokens (like <|im_start|>) are recognized only with
    /// `parseSpecial`; user-defined tokens always are. BOS is added when `addBOS` (default: the
    /// vocabulary's add_bos_token flag).
    public func encode(_ text: String, parseSpecial: Bool = false, addBOS: Bool? = nil) -> [Int32] {
        var out: [Int32] = []
        if addBOS ?? vocab.addBOS, let bos = vocab.bosId { out.append(bos) }
        let scalars = Array(text.unicodeScalars)
        var start = 0, i = 0
        var prevSpecial = true  // SentencePiece adds its space prefix at the start and after a special token
        func flush(_ end: Int) {
            guard start < end else { return }
            let fragment = Substring(String(String.UnicodeScalarView(scalars[start..<end])))
            switch model {
            case let .bpe(m): m.encode(fragment, into: &out)
            case let .spm(m): m.encode(fragment, addSpacePrefix: vocab.addSpacePrefix && prevSpecial, into: &out)
            }
            prevSpecial = false
        }
        if !specials.isEmpty {
            while i < scalars.count {
                var matched: (len: Int, id: Int32)? = nil
                for s in specials where (parseSpecial || !s.control) && s.text.first == scalars[i] {
                    if i + s.text.count <= scalars.count && scalars[i..<(i + s.text.count)].elementsEqual(s.text) {
                        matched = (s.text.count, s.id)
                        break  // longest first
                    }
                }
                if let m = matched {
                    flush(i)
                    out.append(m.id)
                    prevSpecial = true
                    i += m.len
                    start = i
                } else {
                    i += 1
                }
            }
        }
        flush(scalars.count)
        return out
    }

    /// The bytes a token stands for. Control tokens give nothing unless `special`.
    public func bytes(of token: Int32, special: Bool = false) throws -> [UInt8] {
        guard token >= 0, Int(token) < pieces.count else { throw TokenizerError.invalidTokenId(token, vocabSize: pieces.count) }
        if !special && vocab.types[Int(token)] == .control { return [] }
        return pieces[Int(token)]
    }

    /// Decodes ids to text; invalid UTF-8 is replaced with U+FFFD.
    public func decode(_ tokens: [Int32], special: Bool = false) throws -> String {
        var bytes: [UInt8] = []
        for t in tokens { bytes += try self.bytes(of: t, special: special) }
        if case .spm = model, vocab.addSpacePrefix, bytes.first == 0x20 { bytes.removeFirst() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Token texts as the vocabulary spells them (for display).
    public func tokenText(_ id: Int32) -> String { vocab.tokens.indices.contains(Int(id)) ? vocab.tokens[Int(id)] : "?" }
}

extension String {
    func replacingSpaceMarks() -> String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\u{2581}" ? " " : $0 }))
    }
}

/// Turns a token stream into text as it arrives: bytes that end inside a UTF-8 sequence are held
/// until the sequence completes, so no partial character is ever printed.
public struct StreamDecoder {
    let tokenizer: Tokenizer
    var pending: [UInt8] = []
    var atStart = true

    public init(tokenizer: Tokenizer) { self.tokenizer = tokenizer }

    /// The text that became complete with this token (possibly empty).
    public mutating func push(_ token: Int32) throws -> String {
        pending += try tokenizer.bytes(of: token)
        if atStart, case .spm = tokenizer.model, tokenizer.vocab.addSpacePrefix, pending.first == 0x20 {
            pending.removeFirst()
        }
        if !pending.isEmpty { atStart = false }
        let complete = Self.completePrefix(pending)
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Whatever is still held (invalid bytes come out as U+FFFD).
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a UTF-8 sequence.
    static func completePrefix(_ b: [UInt8]) -> Int {
        var i = b.count
        // Walk back over at most 3 continuation bytes to the last lead byte.
        var back = 0
        while back < 4 && i - back - 1 >= 0 && (b[i - back - 1] & 0xC0) == 0x80 { back += 1 }
        let leadIndex = i - back - 1
        guard leadIndex >= 0 else { return b.count }
        let lead = b[leadIndex]
        let need: Int = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        if back + 1 < need && need > 1 { i = leadIndex }
        return i
    }
}
