import ArgumentParser
import Foundation
import Generation
import GGUF
import Llama
import Profiler
import TensorCore
import Tokenizer

struct SamplingOptions: ParsableArguments {
    @Option(name: .customLong("temp"), help: "Temperature; 0 is greedy.") var temperature: Float = 0
    @Option(name: .customLong("top-k"), help: "Keep the K most likely tokens (0: off).") var topK: Int = 0
    @Option(name: .customLong("top-p"), help: "Keep the smallest set with probability >= P (1: off).") var topP: Float = 1
    @Option(name: .customLong("min-p"), help: "Drop tokens below P x the top probability (0: off).") var minP: Float = 0
    @Option(help: "Random seed for sampling (runs with the same seed repeat exactly).") var seed: UInt64 = 42

    func params() throws -> SamplingParams {
        do { return try SamplingParams(temperature: temperature, topK: topK, topP: topP, minP: minP, seed: seed) } catch let e as SamplingError {
            throw ValidationError(e.description)
        }
    }

    func validate() throws { _ = try params() }
}

struct PromptOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "The prompt text.") var prompt: String?
    @Option(help: "Read the prompt from a UTF-8 file.") var promptFile: String?
    @Flag(help: "Wrap the prompt in the model's chat template (as the user's message).") var chat = false
    @Option(help: "System message for --chat (default: the template's own, if any).") var system: String?
    @Flag(help: "With --chat, leave out the template's default system message.") var noSystem = false
    @Flag(help: "Parse special tokens (like <|im_start|>) written in a raw prompt.") var parseSpecial = false

    func validate() throws {
        if prompt != nil && promptFile != nil { throw ValidationError("give either --prompt or --prompt-file, not both") }
        if system != nil && !chat { throw ValidationError("--system needs --chat") }
    }

    /// The raw prompt: --prompt, --prompt-file, or standard input.
    func text() throws -> String {
        let raw: String
        if let p = prompt {
            raw = p
        } else if let f = promptFile {
            guard let data = FileManager.default.contents(atPath: f) else { throw CLIError("cannot read prompt file '\(f)'") }
            guard let s = String(data: data, encoding: .utf8) else { throw CLIError("prompt file '\(f)' is not valid UTF-8") }
            raw = s
        } else {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            guard let s = String(data: data, encoding: .utf8) else { throw CLIError("standard input is not valid UTF-8") }
            raw = s
        }
        guard !raw.isEmpty else { throw CLIError("the prompt is empty") }
        return raw
    }

    /// Prompt token ids, with the chat template applied when asked.
    func tokens(_ tok: Tokenizer) throws -> [Int32] {
        let raw = try text()
        guard chat else { return tok.encode(raw, parseSpecial: parseSpecial) }
        let template = try ChatTemplate(template: tok.vocab.chatTemplate)
        var messages: [ChatTemplate.Message] = []
        if let s = system { messages.append(.init(role: "system", content: s)) }
        messages.append(.init(role: "user", content: raw))
        return tok.encode(template.render(messages, useDefaultSystem: !noSystem), parseSpecial: true)
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text from a prompt, streaming tokens to stdout.",
        discussion: "Statistics go to stderr at the end (or into the JSON object with --json).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var promptOptions: PromptOptions
    @OptionGroup var sampling: SamplingOptions
    @Option(name: [.short, .customLong("max-tokens")], help: "Stop after N generated tokens.") var n: Int = 128
    @Option(help: "Backend: blas (fp32) or int8.") var backend: BackendKind = .blas
    @Option(help: "Threads (OpenBLAS) for the blas backend.") var threads: Int = 1
    @Option(help: "Context size in tokens (default: the model's, at most 4096).") var ctx: Int?
    @Option(help: "Stop when this text appears (repeatable).") var stop: [String] = []
    @Flag(help: "Keep generating past the end-of-sequence token.") var ignoreEos = false
    @Flag(help: "Print one JSON object (text, token ids, statistics) instead of streaming.") var json = false

    func validate() throws {
        guard n >= 1 else { throw ValidationError("-n must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if let c = ctx, c < 2 { throw ValidationError("--ctx must be at least 2") }
    }

    func run() throws {
        let t0 = WallClock.now()
        let file = try modelOptions.openFile()
        let tok = try Tokenizer(file: file)
        let model = try LlamaModel(file: file, backend: backend.make(threads: threads))
        let context = ctx ?? min(model.config.contextLength, 4096)
        let session = model.makeSession(maxContext: context, maxBatch: 64)
        let loadSeconds = WallClock.now() - t0
        let prompt = try promptOptions.tokens(tok)
        guard prompt.count < context else {
            throw CLIError("the prompt has \(prompt.count) tokens but the context holds \(context) (raise --ctx or shorten the prompt)")
        }
        let gen = Generator(model: session, tokenizer: tok)
        let options = GenerationOptions(maxTokens: n, sampling: try sampling.params(), stopStrings: stop, stopAtEOS: !ignoreEos)
        let out = FileHandle.standardOutput
        let result = try gen.generate(prompt: prompt, options: options) { text in
            if !json { out.write(text.data(using: .utf8)!) }
            return true
        }
        let s = result.stats
        if json {
            let obj: [String: Any] = [
                "text": result.text, "tokens": result.tokens.map(Int.init), "prompt_tokens": prompt.count,
                "stop_reason": result.stopReason.rawValue, "mode": "ar", "backend": backend.rawValue,
                "stats": ["load_seconds": loadSeconds, "prompt_tokens": s.promptTokens, "prefill_seconds": s.prefillSeconds,
                          "prefill_tokens_per_second": s.prefillTokensPerSecond, "generated_tokens": s.generatedTokens,
                          "decode_seconds": s.decodeSeconds, "decode_tokens_per_second": s.decodeTokensPerSecond],
            ]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            out.write("\n".data(using: .utf8)!)
            if result.stopReason == .contextFull { note("[stopped: the context of \(context) tokens is full]") }
            note(String(format: "[prompt %d tokens, prefill %.1f tok/s | generated %d tokens, %.1f tok/s | load %.2f s | stop: %@ | %@, %d thread(s)]",
                        s.promptTokens, s.prefillTokensPerSecond, s.generatedTokens, s.decodeTokensPerSecond, loadSeconds,
                        result.stopReason.rawValue, backend.rawValue, threads))
        }
    }
}
