import Foundation

/// Renders conversations in the format a model's `tokenizer.chat_template` declares. The ChatML
/// family (`<|im_start|>role\ncontent<|im_end|>\n`) is supported, including a default system message
/// written into the template; other templates are refused by name.
public struct ChatTemplate: Sendable {
    public struct Message: Sendable {
        public var role: String
        public var content: String
        public init(role: String, content: String) { self.role = role; self.content = content }
    }

    public let defaultSystem: String?

    public init(template: String?) throws {
        guard let t = template else { throw TokenizerError.unsupportedChatTemplate("the model declares no chat template") }
        guard t.contains("<|im_start|>"), t.contains("<|im_end|>") else {
            throw TokenizerError.unsupportedChatTemplate("only the ChatML family (<|im_start|> ... <|im_end|>) is supported")
        }
        // A default system message, as in SmolLM2's: {{ '<|im_start|>system\n...<|im_end|>\n' }} when the
        // first message is not a system message.
        if t.contains("!= 'system'"), let r = t.range(of: "<|im_start|>system\n") {
            let rest = t[r.upperBound...]
            defaultSystem = rest.range(of: "<|im_end|>").map { String(rest[..<$0.lowerBound]) }
        } else {
            defaultSystem = nil
        }
    }

    /// The prompt text; special markers are meant to be parsed as special tokens.
    public func render(_ messages: [Message], addGenerationPrompt: Bool = true, useDefaultSystem: Bool = true) -> String {
        segments(messages, addGenerationPrompt: addGenerationPrompt, useDefaultSystem: useDefaultSystem).map(\.text).joined()
    }

    /// The prompt as pieces: the template's own markup (`markup`, to be parsed for special tokens) and
    /// the messages' text (never parsed for them, so a message that spells `<|im_end|>` cannot close
    /// its turn early).
    public func segments(_ messages: [Message], addGenerationPrompt: Bool = true,
                         useDefaultSystem: Bool = true) -> [(text: String, markup: Bool)] {
        var out: [(text: String, markup: Bool)] = []
        if useDefaultSystem, let sys = defaultSystem, messages.first?.role != "system" {
            out += [("<|im_start|>system\n", true), (sys, false), ("<|im_end|>\n", true)]
        }
        for m in messages { out += [("<|im_start|>\(m.role)\n", true), (m.content, false), ("<|im_end|>\n", true)] }
        if addGenerationPrompt { out.append(("<|im_start|>assistant\n", true)) }
        return out
    }

    /// Token ids of the rendered prompt: markup parsed for special tokens, message text not.
    public func encode(_ messages: [Message], with tokenizer: Tokenizer, addGenerationPrompt: Bool = true,
                       useDefaultSystem: Bool = true) -> [Int32] {
        var ids: [Int32] = []
        let segs = segments(messages, addGenerationPrompt: addGenerationPrompt, useDefaultSystem: useDefaultSystem)
        for (i, seg) in segs.enumerated() where !seg.text.isEmpty {
            ids += tokenizer.encode(seg.text, parseSpecial: seg.markup, addBOS: i == 0 ? nil : false)
        }
        return ids
    }
}
