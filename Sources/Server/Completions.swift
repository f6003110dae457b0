import Engine
import Foundation
import Generation
import Hummingbird
import NIOCore
import OpenAIAPI
import Tokenizer

extension CompletionService {
    /// POST /v1/chat/completions and /v1/completions. A generation watches its connection for the
    /// client hanging up (`consumeWithInboundCloseHandler`), which uses up the connection's inbound
    /// stream, so Hummingbird closes the connection after the response; it says so with
    /// `Connection: close`, or clients that pool connections (URLSession) send the next request on a
    /// connection that is closing and wait for an answer that never comes.
    func complete(_ request: Request, endpoint: Endpoint) async -> Response {
        let name = endpoint == .chat ? "chat" : "completions"
        if let e = authError(request) { return errorResponse(e, endpoint: name) }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: configuration.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            return errorResponse(APIError(status: 413, message: "the request body is larger than the \(configuration.maxBodyBytes) bytes allowed",
                                  type: "invalid_request_error", code: "request_too_large"), endpoint: name)
        } catch {
            return errorResponse(.invalid("the request body could not be read"), endpoint: name)
        }
        let req: CompletionRequest
        let job: Job
        do throws(APIError) {
            req = try decodeCompletionRequest(Data(buffer: body), endpoint: endpoint)
            job = try makeJob(req)
        } catch {
            return errorResponse(error, endpoint: name)
        }
        guard scheduler.admit() else {
            let wait = max(1, Int((metrics.meanGenerationSeconds * Double(scheduler.queueDepth)).rounded(.up)))
            return errorResponse(APIError(status: 429, message: "the server is busy: \(configuration.queueSize) requests are already waiting; retry after \(wait) s",
                                  type: "rate_limit_error", code: "queue_full"), endpoint: name, retryAfter: wait)
        }
        let admitted = Date().timeIntervalSince1970
        let reply = Reply(endpoint: endpoint, model: modelID)
        if req.stream { return stream(request, job: job, reply: reply, includeUsage: req.includeUsage, admitted: admitted, name: name) }
        let cancel = CancelFlag()
        do {
            let scheduler = self.scheduler
            let outcome = try await request.body.consumeWithInboundCloseHandler({ _ in
                try await schedule(job, on: scheduler, admitted: admitted, cancel: cancel, onText: { _ in })
            }, onInboundClosed: { cancel.set() })
            record(outcome, endpoint: name)
            var r = json(reply.whole(withLogprobs(outcome, chat: endpoint == .chat)))
            r.headers[.connection] = "close"  // see above
            return r
        } catch {
            return failure(error, endpoint: name)
        }
    }

    /// The decoder, prompt and options for a decoded request, checked against the model.
    func makeJob(_ req: CompletionRequest) throws(APIError) -> Job {
        var spec = try decoderSpec(req.mirror)
        if req.logprobs != nil, spec.mode != .ar {
            // The speculative decoders give the same tokens (greedy) or the same distribution (sampled)
            // but not each token's distribution; plain decoding does.
            spec = (try? spec.with([("mode", .text("ar"))], layers: layers)) ?? spec
        }
        let prompt: [Int32]
        switch req.input {
        case let .chat(messages):
            guard let t = template else {
                throw .invalid("the model declares no supported chat template; use /v1/completions", param: "messages")
            }
            prompt = t.encode(messages.map { .init(role: $0.role, content: $0.content) }, with: tokenizer)
        case let .text(text):
            // The whole prompt is the client's, so special tokens written in it count (as llama-server does).
            prompt = tokenizer.encode(text, parseSpecial: true)
        }
        guard !prompt.isEmpty else { throw .invalid("the prompt is empty", param: req.isChat ? "messages" : "prompt") }
        guard prompt.count < context else {
            throw .invalid("the prompt has \(prompt.count) tokens but the context holds \(context)", param: req.isChat ? "messages" : "prompt",
                           code: "context_length_exceeded")
        }
        let room = context - prompt.count
        let sampling: SamplingParams
        do {
            sampling = try SamplingParams(temperature: req.temperature, topK: req.topK, topP: req.topP, minP: req.minP,
                                          seed: req.seed ?? UInt64.random(in: 0...UInt64.max))
        } catch { throw .invalid("\(error)") }
        var options = GenerationOptions(maxTokens: min(req.maxTokens ?? room, room), sampling: sampling, stopStrings: req.stop)
        options.logprobs = req.logprobs
        return Job(prompt: prompt, spec: spec, options: options)
    }

    /// The server's defaults with the request's `mirror_sd` knobs over them, checked through the table
    /// of knobs; errors name the request's key.
    func decoderSpec(_ fields: MirrorSDFields) throws(APIError) -> DecoderSpec {
        var inputs: [(String, KnobInput)] = []
        for (key, value) in fields.values.sorted(by: { $0.key < $1.key }) {
            guard let knob = Knobs.json(key) else {
                let keys = Knobs.all.compactMap(\.json).joined(separator: ", ")
                throw .invalid("'mirror_sd.\(key)' is not a decoding option (keys: \(keys))", param: "mirror_sd.\(key)")
            }
            switch value {
            case let .int(i): inputs.append((knob.name, .int(i)))
            case let .number(d): inputs.append((knob.name, .number(d)))
            case let .bool(b): inputs.append((knob.name, .bool(b)))
            case let .string(s): inputs.append((knob.name, .text(s)))
            }
        }
        if case let .string(d)? = fields.values["draft"], !allowedDrafts.contains(d) {
            throw .invalid("'mirror_sd.draft' must be one of \(allowedDrafts.sorted().joined(separator: ", ")), got '\(d)'", param: "mirror_sd.draft")
        }
        do throws(KnobError) {
            return try configuration.defaults.with(inputs, layers: layers, request: true)
        } catch {
            let key = "mirror_sd." + (Knobs[error.knob]?.json ?? error.knob)
            throw .invalid("'\(key)' \(error.message)", param: key)
        }
    }

    /// `o` with its tokens' log probabilities rendered for the response.
    func withLogprobs(_ o: Outcome, chat: Bool) -> Outcome {
        guard let lps = o.result.logprobs else { return o }
        func entry(_ token: Int32, _ logprob: Float, top: [LogprobEntry] = []) -> LogprobEntry {
            let bytes = (try? tokenizer.bytes(of: token)) ?? []
            return LogprobEntry(token: String(decoding: bytes, as: UTF8.self), bytes: bytes, logprob: logprob, top: top)
        }
        var out = o
        out.logprobs = LogprobsBody(entries: lps.map { lp in entry(lp.token, lp.logprob, top: lp.top.map { entry($0.token, $0.logprob) }) }, chat: chat)
        return out
    }

    func record(_ o: Outcome, endpoint: String) {
        let s = o.result.stats
        metrics.request(endpoint, status: o.cancelled ? 499 : 200)
        metrics.generation(prompt: s.generation.promptTokens, completion: o.result.tokens.count, seconds: o.seconds,
                           drafted: s.speculative?.drafted ?? 0, accepted: s.speculative?.accepted ?? 0,
                           rounds: s.mirror?.rounds ?? 0, reused: s.mirror?.reused ?? 0, cancelled: o.cancelled)
        if !o.batched { metrics.whole(mode: o.mode.rawValue, tokens: o.result.tokens.count, seconds: o.seconds) }
    }

    func failure(_ e: any Error, endpoint: String) -> Response {
        switch e {
        case let a as APIError: return errorResponse(a, endpoint: endpoint)
        case is CancellationError:
            return errorResponse(APIError(status: 499, message: "the client closed the request", type: "cancelled"), endpoint: endpoint)
        case let g as GenerationError:
            return errorResponse(APIError(status: 500, message: g.description, type: "server_error"), endpoint: endpoint)
        default:
            return errorResponse(APIError(status: 500, message: "\(e)", type: "server_error"), endpoint: endpoint)
        }
    }

    /// A streamed response: one SSE event per piece of text, a last one with the finish reason (and
    /// usage when asked), then `[DONE]`. Writing stops, and the generation with it, when the client goes.
    func stream(_ request: Request, job: Job, reply: Reply, includeUsage: Bool, admitted: Double, name: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[.connection] = "close"
        let scheduler = self.scheduler
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let cancel = CancelFlag()
            let (texts, sink) = AsyncStream<String>.makeStream()
            let task = Task { () throws -> Outcome in
                do {
                    let o = try await schedule(job, on: scheduler, admitted: admitted, cancel: cancel, onText: { sink.yield($0) })
                    sink.finish()
                    return o
                } catch {
                    sink.finish()
                    throw error
                }
            }
            var writeError: (any Error)?
            try await request.body.consumeWithInboundCloseHandler({ _ in
                do {
                    try await writer.write(ByteBuffer(string: sseEvent(encodeJSON(reply.opening()))))
                    for await text in texts { try await writer.write(ByteBuffer(string: sseEvent(encodeJSON(reply.chunk(text))))) }
                } catch {
                    cancel.set()
                    writeError = error
                    for await _ in texts {}
                }
            }, onInboundClosed: { cancel.set() })
            let outcome: Outcome
            do {
                outcome = try await task.value
            } catch {
                _ = self.failure(error, endpoint: name)  // counts the status
                if writeError == nil {
                    let api = (error as? APIError) ?? APIError(status: 500, message: "\(error)", type: "server_error")
                    try await writer.write(ByteBuffer(string: sseEvent(api.json()) + sseDone))
                    try await writer.finish(nil)
                }
                return
            }
            self.record(outcome, endpoint: name)
            if let e = writeError { throw e }
            var tail = sseEvent(encodeJSON(reply.last(self.withLogprobs(outcome, chat: reply.endpoint == .chat))))
            if includeUsage { tail += sseEvent(encodeJSON(reply.usage(outcome))) }
            try await writer.write(ByteBuffer(string: tail + sseDone))
            try await writer.finish(nil)
        })
    }
}

/// The response and chunk bodies of one request.
struct Reply: Sendable {
    let endpoint: Endpoint
    let model: String
    let id: String
    let created = Int(Date().timeIntervalSince1970)
    typealias Body = CompletionBody<ServedStats>

    init(endpoint: Endpoint, model: String) {
        self.endpoint = endpoint
        self.model = model
        let tag = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
        id = (endpoint == .chat ? "chatcmpl-" : "cmpl-") + tag
    }

    var chunkObject: String { endpoint == .chat ? "chat.completion.chunk" : "text_completion" }

    func whole(_ o: Outcome) -> Body {
        let choice: Body.Choice = endpoint == .chat
            ? .init(message: .init(role: "assistant", content: o.result.text), finishReason: o.finishReason, logprobs: o.logprobs)
            : .init(text: o.result.text, finishReason: o.finishReason, logprobs: o.logprobs)
        return Body(id: id, object: endpoint == .chat ? "chat.completion" : "text_completion", created: created, model: model,
                    choices: [choice], usage: o.usage, mirrorSd: o.stats)
    }

    /// The first chunk: the assistant's role (chat), or empty text.
    func opening() -> Body {
        let choice: Body.Choice = endpoint == .chat ? .init(delta: .init(role: "assistant", content: ""), finishReason: nil)
                                                    : .init(text: "", finishReason: nil)
        return Body(id: id, object: chunkObject, created: created, model: model, choices: [choice])
    }

    func chunk(_ text: String) -> Body {
        let choice: Body.Choice = endpoint == .chat ? .init(delta: .init(content: text), finishReason: nil) : .init(text: text, finishReason: nil)
        return Body(id: id, object: chunkObject, created: created, model: model, choices: [choice])
    }

    func last(_ o: Outcome) -> Body {
        // A stream's log probabilities come whole with its last chunk.
        let choice: Body.Choice = endpoint == .chat ? .init(delta: .init(content: nil), finishReason: o.finishReason, logprobs: o.logprobs)
                                                    : .init(text: "", finishReason: o.finishReason, logprobs: o.logprobs)
        return Body(id: id, object: chunkObject, created: created, model: model, choices: [choice], mirrorSd: o.stats)
    }

    /// With stream_options.include_usage: an extra chunk with no choices and the usage, as OpenAI sends.
    func usage(_ o: Outcome) -> Body {
        Body(id: id, object: chunkObject, created: created, model: model, choices: [], usage: o.usage)
    }
}
