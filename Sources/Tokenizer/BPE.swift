/// Byte-level BPE (tokenizer.ggml.model = gpt2): pre-tokenize, map bytes through the GPT-2 byte map,
/// then merge adjacent symbols by merge rank (lowest first, leftmost on ties) within each piece.
struct BPEModel: Sendable {
    let preTokenizer: PreTokenizer
    /// (left id << 32 | right id) -> (rank, merged id)
    let merges: [UInt64: (rank: Int32, id: Int32)]
    /// Token id of each single byte's byte-level text; -1 where the vocabulary has none (SmolLM2
    /// lacks a few control bytes). Such bytes are dropped, as llama.cpp drops them.
    let byteTokens: [Int32]

    init(vocab: Vocabulary) throws {
        preTokenizer = try PreTokenizer(name: vocab.preTokenizer)
        var m: [UInt64: (Int32, Int32)] = [:]
        m.reserveCapacity(vocab.merges.count)
        for (rank, line) in vocab.merges.enumerated() {
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw TokenizerError.malformedVocabulary("merge \(rank) '\(line)' is not 'A B'") }
            guard let a = vocab.tokenToId[String(parts[0])], let b = vocab.tokenToId[String(parts[1])],
                  let ab = vocab.tokenToId[String(parts[0]) + String(parts[1])] else { continue }
            let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
            if m[key] == nil { m[key] = (Int32(rank), ab) }
        }
        merges = m
        byteTokens = (0..<256).map { vocab.tokenToId[String(ByteLevel.byteToScalar[$0])] ?? -1 }
    }

    func encode(_ text: Substring, into out: inout [Int32]) {
        let scalars = Array(text.unicodeScalars)
        var utf8: [UInt8] = []
        var symbols: [Int32] = []
        for piece in preTokenizer.split(scalars) {
            utf8.removeAll(keepingCapacity: true)
            for s in scalars[piece] { utf8.append(contentsOf: String(s).utf8) }
            symbols.removeAll(keepingCapacity: true)
            for b in utf8 { symbols.append(byteTokens[Int(b)]) }
            merge(&symbols)
            for t in symbols where t >= 0 { out.append(t) }
        }
    }

    /// Repeatedly merges the best-ranked adjacent pair. Pieces are words, so n is small; the cost
    /// is O(n²) per piece, never over the whole text.
    func merge(_ symbols: inout [Int32]) {
        while symbols.count > 1 {
            var best = Int32.max, at = -1, mergedId: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                // Bit patterns: a byte the vocabulary lacks is -1, which matches no merge (found by fuzzing:
                // UInt32(-1) trapped on text holding such a byte next to another symbol).
                let key = UInt64(UInt32(bitPattern: symbols[i])) << 32 | UInt64(UInt32(bitPattern: symbols[i + 1]))
                if let m = merges[key], m.rank < best { best = m.rank; at = i; mergedId = m.id }
            }
            if at < 0 { return }
            symbols[at] = mergedId
            symbols.remove(at: at + 1)
        }
    }
}
