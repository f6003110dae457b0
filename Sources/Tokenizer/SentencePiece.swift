/// SentencePiece-style BPE (tokenizer.ggml.model = llama), as llama.cpp's SPM tokenizer: spaces
/// become U+2581, adjacent symbols merge while their concatenation is a token, highest score first
/// (leftmost on ties), and anything left unmatched falls back to <0xNN> byte tokens.
struct SPMModel: Sendable {
    let vocab: Vocabulary
    let byteTokens: [Int32?]

    init(vocab: Vocabulary) {
        self.vocab = vocab
        byteTokens = (0..<256).map { b in
            let hex = String(b, radix: 16, uppercase: true)
            return vocab.tokenToId["<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"]
        }
    }

    func encode(_ text: Substring, addSpacePrefix: Bool, into out: inout [Int32]) {
        var s = addSpacePrefix ? " " + text : String(text)
        s = String(s.unicodeScalars.map { $0 == " " ? "\u{2581}" : Character($0) })
        var symbols: [String] = s.unicodeScalars.map { String($0) }
        while symbols.count > 1 {
            var bestScore = -Float.infinity, at = -1
            for i in 0..<(symbols.count - 1) {
                if let id = vocab.tokenToId[symbols[i] + symbols[i + 1]] {
                    let score = vocab.scores[Int(id)]
                    if score > bestScore { bestScore = score; at = i }
                }
            }
            if at < 0 { break }
            symbols[at] += symbols[at + 1]
            symbols.remove(at: at + 1)
        }
        for sym in symbols {
            if let id = vocab.tokenToId[sym] {
                out.append(id)
            } else {
                for b in sym.utf8 {
                    if let id = byteTokens[Int(b)] { out.append(id) } else if let unk = vocab.unknownId { out.append(unk) }
                }
            }
        }
    }
}
