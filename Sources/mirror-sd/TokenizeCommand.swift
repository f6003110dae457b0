import ArgumentParser
import Engine
import Foundation
import Profiler
import TensorCore
import Tokenizer

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of TEXT (read from the model's GGUF metadata).")

    @OptionGroup var modelOptions: ModelOptions
    @Argument(help: "The text to tokenize (reads standard input when omitted).") var text: String?
    @Flag(help: "Parse special tokens such as <|im_start|>.") var special = false
    @Flag(help: "Show each token's text next to its id.") var verbose = false
    @Flag(help: "Report encoding speed on stderr.") var timing = false
    @Flag(help: ArgumentHelp("Batch mode: each standard-input line is a JSON object {\"id\": …, \"text\": …}; prints one {\"id\", \"ids\"} line per input.",
                             discussion: "Used by tools/draft to tokenize prompts exactly as the engine does."))
    var jsonl = false
    @Flag(help: "With --jsonl: render each text as a user turn of the chat template (no default system prompt), as `bench` does.")
    var chat = false

    func run() throws {
        let tok = try Tokenizer(file: modelOptions.openFile())
        if jsonl { return try runJSONL(tok) }
        let input: String
        if let t = text {
            input = t
        } else {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            guard let s = String(data: data, encoding: .utf8) else { throw CLIError("standard input is not valid UTF-8") }
            input = s
        }
        let t0 = WallClock.now()
        let ids = tok.encode(input, parseSpecial: special, addBOS: false)
        let dt = WallClock.now() - t0
        if verbose {
            for id in ids { print("\(id)\t\(tok.tokenText(id))") }
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
        if timing {
            note(String(format: "%d characters -> %d tokens in %.2f ms (%.0f tokens/s)", input.count, ids.count, dt * 1e3,
                        Double(ids.count) / max(dt, 1e-9)))
        }
    }

    private struct Line: Decodable { let id: JSONScalar; let text: String }
    private struct Out: Encodable { let id: JSONScalar; let ids: [Int32] }

    private func runJSONL(_ tok: Tokenizer) throws {
        let template = chat ? try ChatTemplate(template: tok.vocab.chatTemplate) : nil
        let decoder = JSONDecoder(), encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var lineNo = 0
        while let line = readLine(strippingNewline: true) {
            lineNo += 1
            if line.allSatisfy(\.isWhitespace) { continue }
            let item: Line
            do { item = try decoder.decode(Line.self, from: Data(line.utf8)) } catch {
                throw CLIError("standard input line \(lineNo): expected {\"id\": …, \"text\": \"…\"} (\(error))")
            }
            let ids: [Int32]
            if let template {
                ids = specBenchPrompt(item.text, tok, template)
            } else {
                ids = tok.encode(item.text, parseSpecial: special, addBOS: false)
            }
            print(String(decoding: try encoder.encode(Out(id: item.id, ids: ids)), as: UTF8.self))
        }
    }
}

/// An id that may be a JSON number or string, echoed back unchanged.
enum JSONScalar: Codable {
    case int(Int), string(String)
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .string(try c.decode(String.self)) }
    }
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case let .int(i): try c.encode(i)
        case let .string(s): try c.encode(s)
        }
    }
}

/// A Spec-Bench turn as `bench`, `eval-draft` and the draft recipe's `tokenize --jsonl --chat` all render it:
/// one user message in the chat template, no default system prompt. Kept in one place so training data
/// and evaluation cannot drift apart.
func specBenchPrompt(_ text: String, _ tok: Tokenizer, _ template: ChatTemplate) -> [Int32] {
    template.encode([.init(role: "user", content: text)], with: tok, useDefaultSystem: false)
}
