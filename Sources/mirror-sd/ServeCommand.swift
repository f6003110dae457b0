import ArgumentParser
import Engine
import Foundation
import Server
import TensorCore

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "An OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions, /v1/models, /health, /metrics.",
        discussion: """
            One model in memory. Up to --parallel (default 16) plain-decoding requests (ar, the default mode) \
            share each forward, joining and leaving at any step, each with the answer it gets alone; where a \
            forward's extra rows cost little (few users), each feeds the tokens prompt lookup guesses and keeps \
            those the model agrees with (--batch-draft), a choice remade every step from measured costs. sd and \
            mirror requests run whole between batches, and --parallel 1 runs every request alone in arrival \
            order. The defaults (native formats, 2 threads, ar, 16 slots) are the best measured here for \
            serving. Up to --queue-size more wait (then 429 with Retry-After). A request may choose its decoding under "mirror_sd", with the \
            request keys of the table below (for example {"mode": "sd", "draft": "small", "gamma": 3}); the \
            flags set the defaults. Responses carry usage and the speculative statistics under "mirror_sd". \
            SIGINT or SIGTERM stops the server after the requests in flight.

            \(Knobs.helpText())
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var decoding: DecodingFlags
    @OptionGroup var draftType: DraftTypeOption
    @OptionGroup var targetOptions: TargetOptions
    @Option(help: "Address to bind (127.0.0.1: this machine only).") var host = "127.0.0.1"
    @Option(help: "Port (0: a free one, printed at start).") var port = 8080
    @Option(help: "Require 'Authorization: Bearer KEY' on /v1 and /metrics (default: $MIRROR_SD_API_KEY if set).")
    var apiKey: String?
    @Option(help: "Requests that may wait beyond the running ones.") var queueSize = 16
    @Option(help: "Plain-decoding (ar) requests decoded together in each forward: continuous batching, a KV cache of --ctx positions each. 1: one request at a time. Default: 16, fewer if their KV caches would not fit in half the memory available. More users than slots wait for one: with 16 clients, 16 slots gave first tokens in 0.1–0.4 s instead of 1.3–1.7 s with 8, at about the same throughput (docs/serving.md).")
    var parallel: Int?
    @Option(help: "Largest request body in bytes.") var maxBodyBytes = 1 << 20
    @Option(help: ArgumentHelp("What batched requests draft with: lookup (prompt lookup, fed only where the goodput rule finds the rows pay; the output is the same) or none.", valueName: "draft"))
    var batchDraft: String = "lookup"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard queueSize >= 0, queueSize <= 4096 else { throw ValidationError("--queue-size must be in 0...4096") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
        if let p = parallel, !(1...64).contains(p) { throw ValidationError("--parallel must be in 1...64") }
        if let k = apiKey, k.isEmpty { throw ValidationError("--api-key must not be empty") }
        guard batchDraft == "none" || BatchDraft(rawValue: batchDraft) != nil else {
            throw ValidationError("--batch-draft must be one of: none, \(BatchDraft.allCases.map(\.rawValue).joined(separator: ", ")); got '\(batchDraft)'")
        }
    }

    /// 16 slots, fewer when their KV caches (the context each) would take more than half the memory
    /// available: about as fast as 8 slots at 1–16 clients, and 16 clients start at once.
    func defaultParallel() throws -> Int {
        let config = try ModelConfig(file: modelOptions.openFile())
        let ctx = targetOptions.ctx ?? min(config.contextLength, Defaults.contextCap)
        let perSlot = Limits.kvBytes(config: config, positions: ctx, format: targetOptions.kvCache ?? Self.kvCache)
        guard let available = Limits.availableMemoryBytes(), perSlot > 0 else { return Self.slots }
        return max(1, min(Self.slots, Int(0.5 * available / perSlot)))
    }

    /// The KV cache serving defaults to: fp16 streams half the bytes through the batch's attention
    /// (docs/serving.md has the side-by-side numbers).
    static let kvCache = KVFormat.f16
    static let slots = 16

    func run() async throws {
        // The measured best for serving (README, "Which mode"): the file's own formats on two cores, plain
        // decoding, 16 sequences per forward; requests may still ask for sd or mirror.
        let threads = min(2, Ops.onlineCPUs)
        let parallel = try self.parallel ?? defaultParallel()
        // KV memory for the target's and a draft's caches, and for the batch's slots.
        let engine = try Engine(targetOptions.configuration(model: modelOptions.model, sessions: 2 + (parallel > 1 ? parallel : 0),
                                                            draftType: draftType.draftType, defaults: (.native, threads, Self.kvCache)))
        let defaults = try decoding.spec(DecoderSpec(mode: .ar))
        // Checks the defaults against the model, and loads the default draft now, so the first request does not pay for it.
        _ = try engine.decoder(defaults)
        var server = ServerConfiguration()
        server.host = host
        server.port = port
        server.apiKey = apiKey ?? ProcessInfo.processInfo.environment["MIRROR_SD_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        server.queueSize = queueSize
        server.maxBodyBytes = maxBodyBytes
        server.parallel = parallel
        server.batchDraft = BatchDraft(rawValue: batchDraft)
        server.defaults = defaults
        server.extraDrafts = [defaults.draftName]
        try await serve(engine: engine, configuration: server, log: { note($0) })
    }
}
