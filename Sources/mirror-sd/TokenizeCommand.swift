import ArgumentParser
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

    func run() throws {
        let tok = try Tokenizer(file: modelOptions.openFile())
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
}
