import ArgumentParser
import Engine
import Foundation
import GGUF
import Generation
import Benchmark
import TensorCore

struct ModelOptions: ParsableArguments {
    static let defaultModel = Defaults.modelPath

    @Option(name: [.short, .long], help: "Path to a GGUF model file.")
    var model: String = ModelOptions.defaultModel

    init() {}
    init(model: String) { self.model = model }

    func openFile() throws -> GGUFFile { try openModel(model) }
}

extension BackendKind: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

extension DecodeMode: ExpressibleByArgument {}
extension KVFormat: ExpressibleByArgument {}
extension FallbackPolicy: ExpressibleByArgument {}

typealias CLIError = EngineError

/// Progress and diagnostics go to stderr so stdout stays clean for results.
func note(_ s: String) {
    FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
}

/// The decoding knobs on the command line: every `--NAME` of `Knobs.all`, read through the table
/// (so a knob is declared there, not here). The command's help lists them from the table.
struct DecodingFlags: ParsableArguments {
    @Argument(parsing: .allUnrecognized, help: .hidden) var raw: [String] = []

    /// The spec the flags give over `base`; each knob checked in its range (relations: `Engine.decoder`).
    func spec(_ base: DecoderSpec = DecoderSpec()) throws -> DecoderSpec {
        var s = base
        do { try Knobs.parse(arguments: raw, into: &s) } catch { throw ValidationError(error.cli) }
        return s
    }

    func validate() throws { _ = try spec() }
}

struct DraftTypeOption: ParsableArguments {
    @Option(name: [.customLong("draft-type"), .customLong("draft-backend")],
            help: ArgumentHelp("Compute format of a model draft: \(BackendKind.help). Default: native when the draft file's matrices are all Q4_0/Q4_1/Q8_0, q8_0 otherwise.", valueName: "type"))
    var draftType: BackendKind?
}

/// The target as `generate` and `serve` load it; each command has its own defaults (`generate`: f32 on
/// one thread, the main job's target; `serve`: the file's own formats on two cores, the best measured
/// for serving).
struct TargetOptions: ParsableArguments {
    @Option(name: [.customLong("target-type"), .customLong("target-backend"), .customLong("backend")],
            help: ArgumentHelp("Compute format of the target: \(BackendKind.help). Default: f32 for generate, native for serve.", valueName: "type"))
    var type: BackendKind?
    @Option(help: "Threads of the target's products (at most the online cores). Default: 1 for generate, 2 (or the cores there are) for serve.")
    var threads: Int?
    @Option(help: "Context size in tokens (default: the model's, at most 4096; never above what it was trained for).") var ctx: Int?
    @Option(name: .customLong("kv-cache"),
            help: ArgumentHelp("How the target's KV cache stores keys and values: f32, or f16 (half the memory and half the bytes the attention reads; each value rounded to fp16 once). Default: f32 for generate, f16 for serve.", valueName: "format"))
    var kvCache: KVFormat?

    func validate() throws { if let t = threads { try Limits.threads(t) } }

    /// The engine for `model`, with KV memory planned for `sessions` caches (1 for the target alone, 2 with a draft).
    func configuration(model: String, sessions: Int, draftType: BackendKind?,
                       defaults: (type: BackendKind, threads: Int, kvCache: KVFormat)) -> EngineConfiguration {
        var c = EngineConfiguration()
        c.modelPath = model
        c.targetType = type ?? defaults.type
        c.threads = threads ?? defaults.threads
        c.context = ctx
        c.sessions = sessions
        c.draftType = draftType
        c.kvCache = kvCache ?? defaults.kvCache
        return c
    }
}

/// Which Spec-Bench prompts a command runs: the first --per-category of each task, in bench order.
struct SpecBenchOptions: ParsableArguments {
    @Option(name: .customLong("per-category"), help: "Prompts per Spec-Bench task (mt_bench counts as one task); each command has its own default.")
    var perTask: Int?
    @Option(help: "Comma-separated tasks (mt_bench, translation, summarization, qa, math_reasoning, rag).")
    var categories: String = SpecBench.tasks.joined(separator: ",")
    @Option(help: "Spec-Bench question file.") var questions: String = "data/specbench/question.jsonl"

    var tasks: [String] { categories.split(separator: ",").map(String.init) }

    func validate() throws {
        if let p = perTask, p < 1 { throw ValidationError("--per-category must be at least 1") }
        guard !tasks.isEmpty else { throw ValidationError("--categories is empty") }
        for t in tasks where !SpecBench.tasks.contains(t) {
            throw ValidationError("unknown task '\(t)' (tasks: \(SpecBench.tasks.joined(separator: ", ")))")
        }
    }

    /// The selected questions, `perTask` of each task unless --per-category says otherwise.
    func select(perTask defaultCount: Int) throws -> [SpecBenchQuestion] {
        guard FileManager.default.fileExists(atPath: questions) else { throw CLIError("question file '\(questions)' not found") }
        return SpecBench.select(try SpecBench.load(questions), perTask: perTask ?? defaultCount, tasks: tasks)
    }
}
