import Engine
import Foundation
import Generation
import OpenAIAPI

/// What the server adds to each response under `mirror_sd`: how it decoded, and the statistics.
public struct ServedStats: Encodable, Sendable {
    public var mode: String
    public var draft: String?
    public var stopReason: String
    public var queueSeconds: Double
    public var stats: DecodeReport
}

/// Response bodies go out with snake_case keys; the OpenAI shapes already spell theirs so, and the
/// engine's reports are camelCase Swift.
let responseEncoder: JSONEncoder = {
    let e = JSONEncoder()
    e.keyEncodingStrategy = .convertToSnakeCase
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return e
}()

func encodeJSON(_ value: some Encodable) -> Data { (try? responseEncoder.encode(value)) ?? Data("{}".utf8) }

/// A request checked against the model: its prompt ids, decoder, and generation options.
struct Job: Sendable {
    let prompt: [Int32]
    let spec: DecoderSpec
    let options: GenerationOptions
}

/// What a finished generation hands back.
struct Outcome: Sendable {
    let result: DecodeResult
    let mode: DecodeMode
    let draft: String?
    let mirrorOptions: MirrorOptions?
    let seconds: Double
    let queueSeconds: Double
    let cancelled: Bool
    /// The tokens' log probabilities as the response shows them, when the request asked.
    var logprobs: LogprobsBody? = nil
    /// Decoded in the batch (its seconds overlap others'), not whole.
    var batched = false

    var finishReason: String {
        switch result.stopReason {
        case .endOfSequence, .stopString: return "stop"
        case .maxTokens, .contextFull: return "length"
        case .callerStopped: return "cancelled"
        }
    }

    var stats: ServedStats {
        ServedStats(mode: mode.rawValue, draft: draft, stopReason: result.stopReason.rawValue, queueSeconds: queueSeconds,
                    stats: DecodeReport(result.stats, mirrorOptions: mirrorOptions))
    }

    var usage: Usage { Usage(prompt: result.stats.generation.promptTokens, completion: result.tokens.count) }
}

/// Runs `job` on the engine (on the scheduler's queue). `onText` gets text as it completes; the
/// generation stops at the next token once `cancel` is set.
func execute(_ job: Job, engine: Engine, admitted: Double, cancel: CancelFlag,
             onText: @Sendable (String) -> Void) throws -> Outcome {
    let start = Date().timeIntervalSince1970
    if cancel.isSet { throw CancellationError() }
    let prepared: PreparedDecoder
    do { prepared = try engine.decoder(job.spec) } catch let e as EngineError {
        throw APIError.invalid(e.description, param: "mirror_sd")
    }
    let r = try prepared.decoder.decode(prompt: job.prompt, options: job.options) { text in
        onText(text)
        return !cancel.isSet
    }
    let end = Date().timeIntervalSince1970
    return Outcome(result: r, mode: prepared.mode, draft: prepared.draft?.choice.description, mirrorOptions: prepared.mirror,
                   seconds: end - start, queueSeconds: start - admitted, cancelled: cancel.isSet)
}

/// Runs `job`: in the batch when the scheduler batches and the job decodes plainly, whole otherwise.
func schedule(_ job: Job, on scheduler: Scheduler, admitted: Double, cancel: CancelFlag,
              onText: @escaping @Sendable (String) -> Void) async throws -> Outcome {
    guard scheduler.batches, job.spec.mode == .ar else {
        return try await scheduler.run { engine in try execute(job, engine: engine, admitted: admitted, cancel: cancel, onText: onText) }
    }
    let (r, slotAt) = try await scheduler.runBatched(prompt: job.prompt, options: job.options, cancel: cancel, onText: onText)
    return Outcome(result: r, mode: .ar, draft: r.stats.speculative != nil ? "lookup (batch)" : nil, mirrorOptions: nil,
                   seconds: Date().timeIntervalSince1970 - slotAt, queueSeconds: max(0, slotAt - admitted), cancelled: cancel.isSet, batched: true)
}
