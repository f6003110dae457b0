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

enum DecodeMode: String, ExpressibleByArgument, CaseIterable { case ar, sd }

struct SpeculativeFlags: ParsableArguments {
    @Option(help: "Draft model for --mode sd (default: the target file itself, run on the draft backend).")
    var draft: String?
    @Option(help: "Backend of the draft: int8 or blas.") var draftBackend: BackendKind = .int8
    @Option(help: "Most tokens drafted per step.") var gamma: Int = 4
    @Option(help: "Drop drafts shorter than this (the step becomes a plain target step).") var draftMin: Int = 0
    @Option(help: "Stop drafting when the draft's top probability is below this.") var draftPMin: Float = 0

    func options() throws -> SpeculativeOptions {
        do { return try SpeculativeOptions(gamma: gamma, draftMin: draftMin, draftPMin: draftPMin) } catch let e as GenerationError {
            throw ValidationError(e.description)
        }
    }

    func validate() throws { _ = try options() }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text from a prompt, streaming tokens to stdout.",
        discussion: """
            Modes: ar (plain decoding of the target), sd (serial speculative decoding with a draft). \
            Statistics go to stderr at the end (or into the JSON object with --json).
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var promptOptions: PromptOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var spec: SpeculativeFlags
    @Option(help: "Decoding mode: ar or sd.") var mode: DecodeMode = .ar
    @Option(name: [.short, .customLong("max-tokens")], help: "Stop after N generated tokens.") var n: Int = 128
    @Option(name: [.customLong("target-backend"), .customLong("backend")], help: "Backend of the target: blas (fp32) or int8.")
    var backend: BackendKind = .blas
    @Option(help: "Threads (OpenBLAS) for the blas backend.") var threads: Int = 1
    @Option(help: "Context size in tokens (default: the model's, at most 4096).") var ctx: Int?
    @Option(help: "Stop when this text appears (repeatable).") var stop: [String] = []
    @Flag(help: "Keep generating past the end-of-sequence token.") var ignoreEos = false
    @Flag(help: "Print one JSON object (text, token ids, statistics) instead of streaming.") var json = false

    func validate() throws {
        guard n >= 1 else { throw ValidationError("-n must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if let c = ctx, c < 2 { throw ValidationError("--ctx must be at least 2") }
        if mode == .ar && spec.draft != nil { throw ValidationError("--draft needs --mode sd") }
    }

    func run() throws {
        let t0 = WallClock.now()
        let file = try modelOptions.openFile()
        let tok = try Tokenizer(file: file)
        let model = try LlamaModel(file: file, backend: backend.make(threads: threads))
        let context = ctx ?? min(model.config.contextLength, 4096)
        let session = model.makeSession(maxContext: context, maxBatch: 64)
        var draftSession: LlamaSession? = nil
        if mode == .sd {
            let draftPath = spec.draft ?? modelOptions.model
            let draftFile = draftPath == modelOptions.model ? file : try ModelOptions(model: draftPath).openFile()
            do { try validatePair(target: tok.vocab, draft: Vocabulary(file: draftFile)) } catch let e as PairError {
                throw CLIError("\(e) (target \(modelOptions.model), draft \(draftPath))")
            }
            let draftModel = try LlamaModel(file: draftFile, backend: spec.draftBackend.make(threads: 1))
            draftSession = draftModel.makeSession(maxContext: context, maxBatch: 64)
        }
        let loadSeconds = WallClock.now() - t0
        let prompt = try promptOptions.tokens(tok)
        guard prompt.count < context else {
            throw CLIError("the prompt has \(prompt.count) tokens but the context holds \(context) (raise --ctx or shorten the prompt)")
        }
        let options = GenerationOptions(maxTokens: n, sampling: try sampling.params(), stopStrings: stop, stopAtEOS: !ignoreEos)
        let out = FileHandle.standardOutput
        let stream: (String) -> Bool = { text in
            if !json { out.write(text.data(using: .utf8)!) }
            return true
        }
        var report = RunReport(mode: mode.rawValue, backend: backend.rawValue, threads: threads, loadSeconds: loadSeconds,
                               promptTokens: prompt.count, context: context)
        if let d = draftSession {
            let dec = SerialSpeculativeDecoder(target: session, draft: d, tokenizer: tok)
            let r = try dec.generate(prompt: prompt, options: options, speculative: try spec.options(), onText: stream)
            report.fill(tokens: r.tokens, text: r.text, stop: r.stopReason, prefill: r.stats.prefillSeconds,
                        decode: r.stats.decodeSeconds)
            report.speculative = r.stats
            report.draftBackend = spec.draftBackend.rawValue
        } else {
            let r = try Generator(model: session, tokenizer: tok).generate(prompt: prompt, options: options, onText: stream)
            report.fill(tokens: r.tokens, text: r.text, stop: r.stopReason, prefill: r.stats.prefillSeconds, decode: r.stats.decodeSeconds)
        }
        if json {
            print(try report.json())
        } else {
            out.write("\n".data(using: .utf8)!)
            report.printSummary()
        }
    }
}
