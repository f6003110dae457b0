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

struct MirrorFlags: ParsableArguments {
    @Option(help: "Mirror: target layer after which the early-exit proxy is read (default: the measured best for the model).")
    var exitLayer: Int?
    @Option(help: "Mirror: early-exit candidates per verified position on the token channel (0: no early exit; default 0 behind --draft self, whose own bonus guess does better, 2 otherwise).")
    var kappa: Int?
    @Option(help: "Mirror: how many verified positions get branches (default: all gamma + 1).")
    var branchPositions: Int?
    @Flag(help: "Mirror: count --branch-positions from the end of the window (the bonus slot first) instead of the start.")
    var branchFromEnd = false
    @Option(help: "Mirror: on a fallback the target waits, or takes a plain step meanwhile (wait, step).")
    var fallback: FallbackPolicy = .wait
    @Flag(help: "Mirror: do not pin the two workers to CPUs 0 and 1.") var noPin = false
    @Flag(help: "Mirror: the draft waits for the early exit instead of starting its own bonus-guess branch with each window (the scheduler before 2026-12).")
    var noDraftBonus = false
    @Flag(help: "Mirror: choose each window's length in 1...--gamma from the acceptance and timings measured so far (the README's Mirror-SD section has the measurement).")
    var adaptiveGamma = false
    @Flag(help: "Mirror: the draft rolls every branch until the verdict, instead of only the branch steps its measured timings say end before the verdict (its own branch always rolls).")
    var noBranchBudget = false
    @Option(help: "Mirror: branches from the draft's own second choices, started with its own branch (at the slots where verdicts landed most; default \(Defaults.runnerUps)).")
    var runnerUps: Int?
    @Option(help: "Mirror: the early-exit proxy covers the first N token ids only (0: the whole vocabulary). 8192 measured faster than the whole 49,152 on SmolLM2 (Spec-Bench sweep in the README).")
    var proxyVocab: Int = Defaults.proxyVocab
    @Option(help: ArgumentHelp("Mirror: the trained exit lens the early-exit proxy applies: auto (a lens in \(Defaults.lensDirectory) made for this target at the exit layer, if any), none (the raw logit lens), or a lens file.", valueName: "auto|none|path"))
    var exitLens: String = "auto"

    func options(gamma: Int, layers: Int, draftPMin: Float, draft: DraftChoice?) throws -> MirrorOptions {
        var s = DecoderSpec(mode: .mirror)
        s.gamma = gamma
        apply(to: &s)
        do { return try Engine.mirrorOptions(s, layers: layers, draftPMin: draftPMin, draft: draft) } catch let e as EngineError {
            throw ValidationError(e.description)
        }
    }

    func apply(to s: inout DecoderSpec) {
        s.exitLayer = exitLayer
        s.kappa = kappa
        s.branchPositions = branchPositions
        s.branchFromEnd = branchFromEnd
        s.fallback = fallback
        s.pinThreads = !noPin
        s.draftBonus = !noDraftBonus
        s.runnerUps = runnerUps
        s.adaptiveGamma = adaptiveGamma
        s.branchBudget = !noBranchBudget
        s.proxyVocab = proxyVocab
        s.exitLens = exitLens
    }
}

struct SpeculativeFlags: ParsableArguments {
    @Option(help: ArgumentHelp("Draft for sd/mirror: small, large (the shipped distilled drafts), self (the target file), a GGUF path (a feature draft, which reads the target's hidden states, runs with sd only), or lookup (prompt lookup, no model); append +lookup to put lookup in front of a model.",
                               discussion: "Default: self, the measured best on Spec-Bench here (README, Results); small+lookup / large+lookup win on long prompts."))
    var draft: String?
    @Flag(help: "Put prompt lookup in front of the model draft (same as appending +lookup to --draft).")
    var lookup = false
    @Option(name: [.customLong("draft-type"), .customLong("draft-backend")], help: ArgumentHelp("Compute format of a model draft: \(BackendKind.help). Default: native when the draft file's matrices are all Q4_0/Q4_1/Q8_0, q8_0 otherwise.", valueName: "type"))
    var draftBackend: BackendKind?
    @Option(help: "Most tokens drafted per step.") var gamma: Int = Defaults.gamma
    @Option(help: "Drop drafts shorter than this (the step becomes a plain target step).") var draftMin: Int = 0
    @Option(help: "Stop drafting when the draft's top probability is below this (default 0.5; 0 for --draft self, whose guesses are mostly right).")
    var draftPMin: Float?

    var isLookupOnly: Bool { draft == "lookup" }

    /// The draft's name for `mode`: --draft (plus --lookup), or the measured default.
    func draftName(for mode: DecodeMode) -> String {
        let name = draft ?? Defaults.draftName(for: mode)
        return lookup && !name.hasSuffix("+lookup") && name != "lookup" ? name + "+lookup" : name
    }

    func choice(for mode: DecodeMode, targetPath: String) throws -> DraftChoice {
        try DraftChoice(parsing: draftName(for: mode), targetPath: targetPath)
    }

    /// Window options for `choice`, with the measured confidence gate (`Defaults.draftPMin`).
    func options(for choice: DraftChoice? = nil) throws -> SpeculativeOptions {
        do { return try SpeculativeOptions(gamma: gamma, draftMin: draftMin, draftPMin: draftPMin ?? Defaults.draftPMin(for: choice)) }
        catch let e as GenerationError { throw ValidationError(e.description) }
    }

    func apply(to s: inout DecoderSpec) {
        s.draft = draftName(for: s.mode)
        s.gamma = gamma
        s.draftMin = draftMin
        s.draftPMin = draftPMin
    }

    func validate() throws { _ = try options() }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text from a prompt, streaming tokens to stdout.",
        discussion: """
            Modes: ar (plain decoding of the target), sd (serial speculative decoding with a draft), \
            mirror (Mirror-SD: target and draft on two threads, early-exit candidates, branch rollouts). \
            Statistics go to stderr at the end (or into the JSON object with --json).
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var promptOptions: PromptOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var spec: SpeculativeFlags
    @OptionGroup var mirrorFlags: MirrorFlags
    @Option(help: "Decoding mode: ar, sd or mirror.") var mode: DecodeMode = .ar
    @Option(name: [.short, .customLong("max-tokens")], help: "Stop after N generated tokens.") var n: Int = 128
    @Option(name: [.customLong("target-type"), .customLong("target-backend"), .customLong("backend")],
            help: ArgumentHelp("Compute format of the target: \(BackendKind.help).", valueName: "type"))
    var backend: BackendKind = .f32
    @Option(help: "Threads of the target's products (at most the online cores).") var threads: Int = 1
    @Option(help: "Context size in tokens (default: the model's, at most 4096; never above what it was trained for).") var ctx: Int?
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
        try Limits.threads(threads)
        // A preset's draft is moot when --mode ar overrides its mode.
        if mode == .ar && (spec.draft != nil || spec.lookup) && preset == nil { throw ValidationError("--draft and --lookup need --mode sd or mirror") }
        if spec.isLookupOnly && spec.lookup { throw ValidationError("--lookup adds lookup in front of a model draft; --draft lookup is lookup alone") }
    }

    func run() throws {
        var config = EngineConfiguration()
        config.modelPath = modelOptions.model
        config.targetType = backend
        config.threads = threads
        config.context = ctx
        config.sessions = mode == .ar ? 1 : 2
        config.draftType = spec.draftBackend
        let engine = try Engine(config)
        var decoderSpec = DecoderSpec(mode: mode)
        spec.apply(to: &decoderSpec)
        mirrorFlags.apply(to: &decoderSpec)
        let t0 = WallClock.now()
        let prepared = try engine.decoder(decoderSpec)
        let loadSeconds = engine.loadSeconds + WallClock.now() - t0
        let prompt = try promptOptions.tokens(engine.tokenizer)
        try engine.checkPrompt(prompt)
        let options = GenerationOptions(maxTokens: n, sampling: try sampling.params(), stopStrings: stop, stopAtEOS: !ignoreEos)
        let out = FileHandle.standardOutput
        let r = try prepared.decoder.decode(prompt: prompt, options: options) { text in
            if !json { out.write(Data(text.utf8)) }
            return true
        }
        let report = RunReport(mode: mode, backend: backend.rawValue, threads: threads, loadSeconds: loadSeconds,
                               context: engine.context, prepared: prepared, result: r)
        if json {
            print(try report.json())
        } else {
            out.write(Data("\n".utf8))
            report.printSummary()
        }
    }
}
