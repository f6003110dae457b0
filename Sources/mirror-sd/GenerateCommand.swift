import ArgumentParser
import Foundation
import Generation
import Engine
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
        return template.encode(messages, with: tok, useDefaultSystem: !noSystem)
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text from a prompt, streaming tokens to stdout.",
        discussion: """
            Modes (--mode): ar (plain decoding of the target), sd (serial speculative decoding with a draft), \
            mirror (Mirror-SD: target and draft on two threads, early-exit candidates, branch rollouts). \
            Statistics go to stderr at the end (or into the JSON object with --json).

            \(Knobs.helpText())
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var promptOptions: PromptOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var decoding: DecodingFlags
    @OptionGroup var draftType: DraftTypeOption
    @Option(name: [.short, .customLong("max-tokens")], help: "Stop after N generated tokens.") var n: Int = 128
    @OptionGroup var targetOptions: TargetOptions
    @Option(help: "Stop when this text appears (repeatable).") var stop: [String] = []
    @Flag(help: "Keep generating past the end-of-sequence token.") var ignoreEos = false
    @Flag(help: "Print one JSON object (text, token ids, statistics) instead of streaming.") var json = false
    @Option(help: ArgumentHelp("A named set of flags; flags you give override it: \(Presets.help).", valueName: "name"))
    var preset: String?

    func validate() throws {
        if let p = preset, !Presets.all.contains(where: { $0.name == p }) {
            throw ValidationError("unknown preset '\(p)' (presets: \(Presets.all.map(\.name).joined(separator: ", ")))")
        }
        guard n >= 1 else { throw ValidationError("-n must be at least 1") }
        // A preset's draft is moot when --mode ar overrides its mode.
        let spec = try decoding.spec()
        if spec.mode == .ar && spec.draft != nil && preset == nil { throw ValidationError("--draft needs --mode sd or mirror") }
    }

    func run() throws {
        let spec = try decoding.spec()
        let engine = try Engine(targetOptions.configuration(model: modelOptions.model, sessions: spec.mode == .ar ? 1 : 2,
                                                           draftType: draftType.draftType, defaults: (.f32, 1, .f32)))
        let t0 = WallClock.now()
        let prepared = try engine.decoder(spec)
        let loadSeconds = engine.loadSeconds + WallClock.now() - t0
        let prompt = try promptOptions.tokens(engine.tokenizer)
        try engine.checkPrompt(prompt)
        let options = GenerationOptions(maxTokens: n, sampling: try sampling.params(), stopStrings: stop, stopAtEOS: !ignoreEos)
        let out = FileHandle.standardOutput
        let r = try prepared.decoder.decode(prompt: prompt, options: options) { text in
            if !json { out.write(Data(text.utf8)) }
            return true
        }
        let report = RunReport(mode: spec.mode, backend: engine.configuration.targetType.rawValue, threads: engine.configuration.threads,
                               kvCache: engine.configuration.kvCache.rawValue, loadSeconds: loadSeconds,
                               context: engine.context, prepared: prepared, result: r)
        if json {
            print(try report.json())
        } else {
            out.write(Data("\n".utf8))
            report.printSummary()
        }
    }
}
