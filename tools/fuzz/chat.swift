import Foundation
import GGUF

// libFuzzer target: the chat-template renderer. The input's first part is a template (any text; only
// ChatML-like ones are accepted), the rest a conversation split into messages at NUL bytes, rendered with
// and without the default system message and encoded. Nothing may trap, and rendering must equal the
// concatenated segments.
let tokenizer: Tokenizer = {
    let path = ProcessInfo.processInfo.environment["MIRRORSD_FUZZ_MODEL"] ?? "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    return try! Tokenizer(file: GGUFFile(path: path))
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChatTemplate(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let parts = text.split(separator: "\u{1}", maxSplits: 1, omittingEmptySubsequences: false)
    let template = try? ChatTemplate(template: parts.count > 1 ? String(parts[0]) : tokenizer.vocab.chatTemplate)
    guard let t = template else { return 0 }
    let roles = ["system", "user", "assistant"]
    let body = parts.count > 1 ? parts[1] : parts[0]
    let messages = body.split(separator: "\0", omittingEmptySubsequences: false).enumerated().map {
        ChatTemplate.Message(role: roles[$0.offset % 3], content: String($0.element))
    }
    for useDefault in [true, false] {
        let rendered = t.render(messages, useDefaultSystem: useDefault)
        precondition(rendered == t.segments(messages, useDefaultSystem: useDefault).map(\.text).joined())
        _ = t.encode(messages, with: tokenizer, useDefaultSystem: useDefault)
    }
    return 0
}
