import ArgumentParser
import Engine
import Foundation
import Server

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "An OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions, /v1/models, /health, /metrics.",
        discussion: """
            One model in memory; requests run one at a time in arrival order, and up to --queue-size wait \
            (more get 429 with Retry-After). Requests may choose the decoding under "mirror_sd": \
            {"mode": "ar|sd|mirror", "draft": "self|small|large|lookup|…", "gamma": N, "kappa": N, \
            "exit_layer": N, "runner_ups": N, "adaptive_gamma": true|false, "branch_budget": true|false, "exit_lens": "auto|none"}. \
            Responses carry usage and the speculative statistics under "mirror_sd". SIGINT or SIGTERM stops \
            the server after the requests in flight.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var spec: SpeculativeFlags
    @OptionGroup var mirrorFlags: MirrorFlags
    @Option(help: "Address to bind (127.0.0.1: this machine only).") var host = "127.0.0.1"
    @Option(help: "Port (0: a free one, printed at start).") var port = 8080
    @Option(help: "Require 'Authorization: Bearer KEY' on /v1 and /metrics (default: $MIRROR_SD_API_KEY if set).")
    var apiKey: String?
    @Option(help: "Decoding mode of requests that do not choose: ar, sd or mirror.") var mode: DecodeMode = .mirror
    @Option(name: [.customLong("target-type"), .customLong("target-backend"), .customLong("backend")],
            help: ArgumentHelp("Compute format of the target: \(BackendKind.help).", valueName: "type"))
    var backend: BackendKind = .f32
    @Option(help: "Threads of the target's products (at most the online cores).") var threads: Int = 1
    @Option(help: "Context size in tokens (default: the model's, at most 4096).") var ctx: Int?
    @Option(help: "Requests that may wait behind the running one.") var queueSize = 16
    @Option(help: "Largest request body in bytes.") var maxBodyBytes = 1 << 20

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard queueSize >= 0, queueSize <= 4096 else { throw ValidationError("--queue-size must be in 0...4096") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
        try Limits.threads(threads)
        if let k = apiKey, k.isEmpty { throw ValidationError("--api-key must not be empty") }
    }

    func run() async throws {
        var config = EngineConfiguration()
        config.modelPath = modelOptions.model
        config.targetType = backend
        config.threads = threads
        config.context = ctx
        config.sessions = 2
        config.draftType = spec.draftBackend
        let engine = try Engine(config)
        var defaults = DecoderSpec(mode: mode)
        spec.apply(to: &defaults)
        mirrorFlags.apply(to: &defaults)
        // Load the default draft now, so the first request does not pay for it.
        if mode != .ar { _ = try engine.decoder(defaults) }
        var server = ServerConfiguration()
        server.host = host
        server.port = port
        server.apiKey = apiKey ?? ProcessInfo.processInfo.environment["MIRROR_SD_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        server.queueSize = queueSize
        server.maxBodyBytes = maxBodyBytes
        server.defaults = defaults
        if let d = spec.draft { server.extraDrafts = [d] }
        try await serve(engine: engine, configuration: server, log: { note($0) })
    }
}
