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
        var out = ""
        if useDefaultSystem, let sys = defaultSystem, messages.first?.role != "system" {
            out += "<|im_start|>system\n\(sys)<|im_end|>\n"
        }
        for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
        if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        return out
    }
}
