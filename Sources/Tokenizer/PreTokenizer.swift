/// Splits text into the pieces BPE merges within, as llama.cpp's pre-tokenizers do. Each regex of a
/// pre-tokenizer splits every piece the previous one produced; text between matches stays a piece.
enum PreTokenizer {
    case gpt2
    /// SmolLM/StarCoder: every number character alone (\p{N}), then the GPT-2 split.
    case digitsThenGPT2

    init(name: String) throws {
        switch name {
        case "gpt2", "gpt-2", "mpt", "olmo", "jais": self = .gpt2
        case "smollm", "starcoder", "refact", "codeshell", "command-r": self = .digitsThenGPT2
        default: throw TokenizerError.unsupportedPreTokenizer(name)
        }
    }

    func split(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        switch self {
        case .gpt2:
            Self.gpt2(s, 0..<s.count, into: &out)
        case .digitsThenGPT2:
            var start = 0
            for i in 0..<s.count where Self.isNumber(s[i]) {
                if start < i { Self.gpt2(s, start..<i, into: &out) }
                out.append(i..<(i + 1))
                start = i + 1
            }
            if start < s.count { Self.gpt2(s, start..<s.count, into: &out) }
        }
        return out
    }

    static func isLetter(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return (c.value | 0x20) >= 0x61 && (c.value | 0x20) <= 0x7A }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return c.value >= 0x30 && c.value <= 0x39 }
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return c == " " || (c.value >= 9 && c.value <= 13) }
        return c.properties.isWhitespace
    }

    /// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    static func gpt2(_ s: [Unicode.Scalar], _ range: Range<Int>, into out: inout [Range<Int>]) {
        let end = range.upperBound
        var pos = range.lowerBound
        while pos < end {
            let c = s[pos]
            if c == "'" && pos + 1 < end {
                let n = s[pos + 1]
                if n == "s" || n == "t" || n == "m" || n == "d" {
                    out.append(pos..<(pos + 2)); pos += 2; continue
                }
                if pos + 2 < end {
                    let n2 = s[pos + 2]
                    if (n == "r" && n2 == "e") || (n == "v" && n2 == "e") || (n == "l" && n2 == "l") {
                        out.append(pos..<(pos + 3)); pos += 3; continue
                    }
                }
            }
            let lead = (c == " " && pos + 1 < end) ? 1 : 0
            let c2 = s[pos + lead]
            if isLetter(c2) {
                var p = pos + lead
                while p < end && isLetter(s[p]) { p += 1 }
                out.append(pos..<p); pos = p; continue
            }
            if isNumber(c2) {
                var p = pos + lead
                while p < end && isNumber(s[p]) { p += 1 }
                out.append(pos..<p); pos = p; continue
            }
            if !isSpace(c2) {
                var p = pos + lead
                while p < end && !isSpace(s[p]) && !isLetter(s[p]) && !isNumber(s[p]) { p += 1 }
                out.append(pos..<p); pos = p; continue
            }
            var p = pos
            while p < end && isSpace(s[p]) { p += 1 }
            if p - pos > 1 && p < end {
                p -= 1  // \s+(?!\S): leave the last space to lead the next word
            }
            out.append(pos..<p); pos = p
        }
    }
}
