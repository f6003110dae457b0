import Engine
import Foundation
import Generation
import Hummingbird
import Logging
import NIOCore
import OpenAIAPI
import Tokenizer

public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0: a free port, printed when the server is up.
    public var port = 8080
    /// When set, every /v1 request and /metrics needs `Authorization: Bearer <key>`.
    public var apiKey: String? = nil
    /// Requests that may wait beyond the running ones; more get 429.
    public var queueSize = 16
    /// Plain-decoding requests decoded together in each forward (continuous batching); 1: one at a time.
    public var parallel = 1
    /// What batched sequences may draft with (nil: plain batched decoding).
    public var batchDraft: BatchDraft? = .lookup
    /// Larger request bodies get 413.
    public var maxBodyBytes = 1 << 20
    /// How requests decode unless their `mirror_sd` fields say otherwise.
    public var defaults = DecoderSpec(mode: .ar)
    /// Drafts a request may name besides the built-in ones (self, small, large, lookup).
    public var extraDrafts: [String] = []
    public init() {}
}

/// The OpenAI-compatible server: routes on Hummingbird, generation on the scheduler. Returns after
/// SIGINT or SIGTERM once in-flight requests have finished.
public func serve(engine: Engine, configuration: ServerConfiguration, log: @escaping @Sendable (String) -> Void) async throws {
    let service = CompletionService(engine: engine, configuration: configuration)
    let router = Router()
    service.addRoutes(to: router)
    var logger = Logger(label: "mirror-sd.serve")
    logger.logLevel = .warning
    let app = Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "mirror-sd"),
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            log("mirror-sd serve: listening on http://\(configuration.host):\(port) (model \(service.modelID), context \(service.context), \(service.kvCache) KV cache\(service.memoryNote), default mode \(configuration.defaults.mode.rawValue), parallel \(configuration.parallel)\(service.batchNote), queue \(configuration.queueSize))")
        },
        logger: logger)
    do {
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    } catch let e as IOError {
        throw EngineError("cannot listen on \(configuration.host):\(configuration.port): \(String(cString: strerror(e.errnoCode))) (errno \(e.errnoCode))")
    }
    log("mirror-sd serve: stopped")
}

/// The parts of a request the event loop handles itself (auth, body, validation, the prompt) and
/// the hand-off to the scheduler.
final class CompletionService: Sendable {
    let scheduler: Scheduler
    let metrics = Metrics()
    let configuration: ServerConfiguration
    let tokenizer: Tokenizer
    let template: ChatTemplate?
    let context: Int
    /// The target's KV cache format, for the start line.
    let kvCache: String
    let layers: Int
    let modelID: String
    let started = Int(Date().timeIntervalSince1970)
    let allowedDrafts: Set<String>

    init(engine: Engine, configuration: ServerConfiguration) {
        self.configuration = configuration
        tokenizer = engine.tokenizer
        template = try? ChatTemplate(template: engine.tokenizer.vocab.chatTemplate)
        context = engine.context
        kvCache = engine.model.kvFormat.rawValue
        layers = engine.model.config.layers
        modelID = engine.modelName
        var drafts: Set<String> = ["self", "small", "large", "lookup"]
        for d in configuration.extraDrafts + [configuration.defaults.draft].compactMap({ $0 }) { drafts.insert(d) }
        for d in drafts where d != "lookup" { drafts.insert(d.hasSuffix("+lookup") ? String(d.dropLast(7)) : d + "+lookup") }
        allowedDrafts = drafts
        scheduler = Scheduler(engine: engine, capacity: configuration.queueSize, parallel: configuration.parallel, draft: configuration.batchDraft)
    }

    /// How the batch drafts, with the calibrated cost of a forward of 1, 8 and 32 rows.
    var batchNote: String {
        guard configuration.parallel > 1 else { return "" }
        guard let d = configuration.batchDraft, let c = scheduler.stepCost, c.isCalibrated else { return ", batch drafts: none" }
        return String(format: ", batch drafts: %@ where it pays (a forward of 1, 8, 32 rows: %.1f, %.1f, %.1f ms)", d.rawValue,
                      c.estimate(1) * 1e3, c.estimate(8) * 1e3, c.estimate(32) * 1e3)
    }

    /// What backs the weights and KV caches (`HugePages` asks for transparent huge pages): the process's
    /// bytes on huge pages and the system's THP mode, so an operator sees whether the advice took.
    var memoryNote: String {
        let mode = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)).flatMap { text -> String? in
            guard let open = text.firstIndex(of: "["), let close = text[open...].firstIndex(of: "]") else { return nil }
            return String(text[text.index(after: open)..<close])
        }
        let kB = (try? String(contentsOfFile: "/proc/self/smaps_rollup", encoding: .utf8)).flatMap { text -> Int? in
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("AnonHugePages:") }) else { return nil }
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        guard let kB else { return "" }
        return ", \((kB + 512) / 1024) MB on huge pages" + (mode.map { " (THP \($0))" } ?? "")
    }

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/health") { _, _ in self.json(["status": "ok"]) }
        router.get("/v1/models") { request, _ in
            self.authorize(request, endpoint: "models") {
                self.json(ModelList(ids: [self.modelID], created: self.started))
            }
        }
        router.get("/metrics") { request, _ in
            self.authorize(request, endpoint: "metrics") {
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; version=0.0.4"
                let text = self.metrics.text(queueDepth: self.scheduler.queueDepth, queueCapacity: self.configuration.queueSize,
                                             batch: self.scheduler.batchFigures)
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }
        router.post("/v1/chat/completions") { request, _ in await self.complete(request, endpoint: .chat) }
        router.post("/v1/completions") { request, _ in await self.complete(request, endpoint: .completions) }
    }

    // MARK: Responses

    func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: encodeJSON(value))))
    }

    func errorResponse(_ e: APIError, endpoint: String, retryAfter: Int? = nil) -> Response {
        metrics.request(endpoint, status: e.status)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if let r = retryAfter { headers[.retryAfter] = String(r) }
        return Response(status: .init(code: e.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: e.json())))
    }

    func authorize(_ request: Request, endpoint: String, _ body: () -> Response) -> Response {
        if let e = authError(request) { return errorResponse(e, endpoint: endpoint) }
        metrics.request(endpoint, status: 200)
        return body()
    }

    func authError(_ request: Request) -> APIError? {
        guard let key = configuration.apiKey else { return nil }
        guard request.headers[.authorization] == "Bearer \(key)" else {
            return APIError(status: 401, message: "a valid API key is required: send the header 'Authorization: Bearer <key>'",
                            type: "invalid_request_error", code: "invalid_api_key")
        }
        return nil
    }
}
