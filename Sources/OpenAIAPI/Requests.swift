import Foundation

/// A chat or text completion request, decoded and range-checked, in terms the engine uses. The
/// decoding never trusts the body: wrong types, out-of-range values and unsupported features are
/// `APIError`s naming the field.
public struct CompletionRequest: Sendable, Equatable {
    public enum Input: Sendable, Equatable {
        case chat([ChatMessage])
        case text(String)
    }

    public var input: Input
    /// nil: until end of sequence or a full context.
    public var maxTokens: Int?
    public var temperature: Float
    public var topP: Float
    public var topK: Int
    public var minP: Float
    /// nil: a fresh seed per request.
    public var seed: UInt64?
    public var stop: [String]
    public var stream: Bool
    public var includeUsage: Bool
    public var mirror: MirrorSDFields
    /// nil: no log probabilities; n: each token's, with the n most likely alternatives beside it.
    public var logprobs: Int? = nil

    public var isChat: Bool { if case .chat = input { return true } else { return false } }
}

public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
}

/// Our own knobs under `"mirror_sd"`, as sent: each key with a scalar value. The server reads them
/// through the engine's table of knobs, which knows the keys and their ranges; this module stays
/// Foundation-only so the fuzzer builds it alone.
public struct MirrorSDFields: Sendable, Equatable, Decodable {
    public enum Scalar: Sendable, Equatable { case int(Int), number(Double), string(String), bool(Bool) }
    public var values: [String: Scalar] = [:]

    public init() {}

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        for key in c.allKeys {
            if let b = try? c.decode(Bool.self, forKey: key) { values[key.stringValue] = .bool(b) }
            else if let i = try? c.decode(Int.self, forKey: key) { values[key.stringValue] = .int(i) }
            else if let d = try? c.decode(Double.self, forKey: key) { values[key.stringValue] = .number(d) }
            else if let s = try? c.decode(String.self, forKey: key) { values[key.stringValue] = .string(s) }
            else {
                throw DecodingError.typeMismatch(String.self, .init(codingPath: c.codingPath + [key],
                                                                    debugDescription: "expected a string, a number or a boolean"))
            }
        }
    }
}

public enum Endpoint: String, Sendable { case chat = "/v1/chat/completions", completions = "/v1/completions" }

public enum RequestLimits {
    public static let maxStopStrings = 4
    public static let maxStopLength = 256
    public static let maxMessages = 1024
}

/// Decodes and checks a request body for `endpoint`.
public func decodeCompletionRequest(_ body: Data, endpoint: Endpoint) throws(APIError) -> CompletionRequest {
    let raw: RawRequest
    do {
        raw = try JSONDecoder().decode(RawRequest.self, from: body)
    } catch let e as DecodingError {
        throw describe(e)
    } catch {
        throw .invalid("the request body is not valid JSON")
    }
    return try raw.validated(for: endpoint)
}

/// The body as sent; unions (string or list) decoded by hand.
struct RawRequest: Decodable {
    var model: String?
    var messages: [RawMessage]?
    var prompt: StringOrList?
    var maxTokens: JSONInt?
    var maxCompletionTokens: JSONInt?
    var temperature: Double?
    var topP: Double?
    var topK: JSONInt?
    var minP: Double?
    var seed: JSONInt?
    var stop: StringOrList?
    var stream: Bool?
    var streamOptions: StreamOptions?
    var n: JSONInt?
    var presencePenalty: Double?
    var frequencyPenalty: Double?
    var logprobs: LogprobsField?
    var topLogprobs: JSONInt?
    var responseFormat: JSONValue?
    var echo: Bool?
    var tools: [JSONValue]?
    var mirrorSd: MirrorSDFields?

    enum CodingKeys: String, CodingKey {
        case model, messages, prompt, temperature, seed, stop, stream, n, echo, tools, logprobs
        case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens", topP = "top_p", topK = "top_k"
        case minP = "min_p", streamOptions = "stream_options", presencePenalty = "presence_penalty"
        case frequencyPenalty = "frequency_penalty", mirrorSd = "mirror_sd", topLogprobs = "top_logprobs", responseFormat = "response_format"
    }

    struct StreamOptions: Decodable { var includeUsage: Bool?; enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" } }

    func validated(for endpoint: Endpoint) throws(APIError) -> CompletionRequest {
        let n = self.n?.int, maxTokens = self.maxTokens?.int, maxCompletionTokens = self.maxCompletionTokens?.int
        let topK = self.topK?.int, seed = self.seed?.value
        let input: CompletionRequest.Input
        switch endpoint {
        case .chat:
            guard prompt == nil else { throw .invalid("'prompt' belongs to /v1/completions; chat takes 'messages'", param: "prompt") }
            guard let ms = messages else { throw .invalid("'messages' is required", param: "messages") }
            guard !ms.isEmpty else { throw .invalid("'messages' must hold at least one message", param: "messages") }
            guard ms.count <= RequestLimits.maxMessages else {
                throw .invalid("'messages' holds \(ms.count) messages; at most \(RequestLimits.maxMessages)", param: "messages")
            }
            var out: [ChatMessage] = []
            for (i, m) in ms.enumerated() {
                guard ["system", "user", "assistant"].contains(m.role) else {
                    throw .invalid("messages[\(i)].role must be system, user or assistant, got '\(m.role)'", param: "messages[\(i)].role")
                }
                out.append(ChatMessage(role: m.role, content: m.content))
            }
            input = .chat(out)
        case .completions:
            guard messages == nil else { throw .invalid("'messages' belongs to /v1/chat/completions; completions take 'prompt'", param: "messages") }
            guard let p = prompt else { throw .invalid("'prompt' is required", param: "prompt") }
            guard p.values.count == 1 else { throw .invalid("'prompt' must be one string (batches of prompts are not supported)", param: "prompt") }
            input = .text(p.values[0])
        }
        if let n, n != 1 { throw .invalid("'n' must be 1 (one choice per request), got \(n)", param: "n") }
        if let p = presencePenalty, p != 0 { throw .invalid("'presence_penalty' is not supported (only 0)", param: "presence_penalty") }
        if let p = frequencyPenalty, p != 0 { throw .invalid("'frequency_penalty' is not supported (only 0)", param: "frequency_penalty") }
        var logprobCount: Int? = nil
        switch (endpoint, logprobs?.value, topLogprobs?.int) {
        case (_, nil, nil), (.chat, .flag(false)?, nil): break
        case let (.chat, .flag(true)?, top):
            let t = top ?? 0
            guard (0...20).contains(t) else { throw .invalid("'top_logprobs' must be in 0...20, got \(t)", param: "top_logprobs") }
            logprobCount = t
        case (.chat, _, _?):
            throw .invalid("'top_logprobs' needs 'logprobs': true", param: "top_logprobs")
        case (.chat, .count?, _):
            throw .invalid("'logprobs' is a boolean in chat completions (the count is 'top_logprobs')", param: "logprobs")
        case let (.completions, .count(n)?, nil):
            guard (0...5).contains(n) else { throw .invalid("'logprobs' must be in 0...5, got \(n)", param: "logprobs") }
            logprobCount = n
        case (.completions, .flag?, _):
            throw .invalid("'logprobs' is a count in completions (0...5)", param: "logprobs")
        case (.completions, _, _?):
            throw .invalid("'top_logprobs' belongs to chat completions; completions take 'logprobs': N", param: "top_logprobs")
        }
        if responseFormat != nil {
            throw .invalid("'response_format' is not supported: output is not constrained to a format", param: "response_format")
        }
        if echo == true { throw .invalid("'echo' is not supported", param: "echo") }
        if let t = tools, !t.isEmpty { throw .invalid("'tools' are not supported", param: "tools") }
        if maxTokens != nil && maxCompletionTokens != nil {
            throw .invalid("give 'max_tokens' or 'max_completion_tokens', not both", param: "max_tokens")
        }
        let limit = maxTokens ?? maxCompletionTokens
        if let m = limit, m < 1 { throw .invalid("'max_tokens' must be at least 1, got \(m)", param: "max_tokens") }
        let temp = temperature ?? 1
        guard temp.isFinite, temp >= 0, temp <= 2 else { throw .invalid("'temperature' must be in [0, 2], got \(temp)", param: "temperature") }
        let tp = topP ?? 1
        guard tp.isFinite, tp > 0, tp <= 1 else { throw .invalid("'top_p' must be in (0, 1], got \(tp)", param: "top_p") }
        let tk = topK ?? 0
        guard tk >= 0 else { throw .invalid("'top_k' must be 0 (off) or more, got \(tk)", param: "top_k") }
        let mp = minP ?? 0
        guard mp.isFinite, mp >= 0, mp < 1 else { throw .invalid("'min_p' must be in [0, 1), got \(mp)", param: "min_p") }
        if let s = seed, s < 0 { throw .invalid("'seed' must be 0 or more, got \(s)", param: "seed") }
        let stops = stop?.values ?? []
        guard stops.count <= RequestLimits.maxStopStrings else {
            throw .invalid("'stop' holds \(stops.count) strings; at most \(RequestLimits.maxStopStrings)", param: "stop")
        }
        for s in stops where s.isEmpty || s.utf8.count > RequestLimits.maxStopLength {
            throw .invalid("each 'stop' string must hold 1 to \(RequestLimits.maxStopLength) bytes", param: "stop")
        }
        let m = mirrorSd ?? MirrorSDFields()
        let streamFlag = stream ?? false
        if streamOptions != nil && !streamFlag { throw .invalid("'stream_options' needs 'stream': true", param: "stream_options") }
        return CompletionRequest(input: input, maxTokens: limit, temperature: Float(temp), topP: Float(tp), topK: tk,
                                 minP: Float(mp), seed: seed.map { UInt64($0) }, stop: stops, stream: streamFlag,
                                 includeUsage: streamOptions?.includeUsage ?? false, mirror: m, logprobs: logprobCount)
    }
}

struct RawMessage: Decodable {
    var role: String
    var content: String

    enum CodingKeys: String, CodingKey { case role, content }
    struct Part: Decodable { var type: String; var text: String? }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        role = try c.decode(String.self, forKey: .role)
        if let s = try? c.decode(String.self, forKey: .content) {
            content = s
        } else if let parts = try? c.decode([Part].self, forKey: .content) {
            // The list form: text parts only, joined.
            var text = ""
            for p in parts {
                guard p.type == "text", let t = p.text else {
                    throw DecodingError.dataCorruptedError(forKey: .content, in: c, debugDescription: "only text content parts are supported")
                }
                text += t
            }
            content = text
        } else if try c.decodeNil(forKey: .content) {
            content = ""
        } else {
            throw DecodingError.typeMismatch(String.self, .init(codingPath: c.codingPath + [CodingKeys.content],
                                                                 debugDescription: "expected a string or a list of text parts"))
        }
    }
}

/// An integer field. Foundation's decoder on Linux reports 1.5 or 1e30 for an Int as "not valid
/// JSON" without naming the field; this names it.
struct JSONInt: Decodable, Equatable {
    var value: Int64
    var int: Int { Int(value) }
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int64.self) { value = i; return }
        if (try? c.decode(Double.self)) != nil {
            throw DecodingError.typeMismatch(Int64.self, .init(codingPath: decoder.codingPath, debugDescription: "a whole number in range"))
        }
        value = try c.decode(Int64.self)
    }
}

/// `"text"` or `["text", ...]`.
struct StringOrList: Decodable, Equatable {
    var values: [String]
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { values = [s] } else if let l = try? c.decode([String].self) { values = l } else {
            throw DecodingError.typeMismatch(String.self, .init(codingPath: c.codingPath, debugDescription: "expected a string or a list of strings"))
        }
    }
}

/// `logprobs` is a boolean in chat and a count in completions.
struct LogprobsField: Decodable {
    enum Value { case flag(Bool), count(Int) }
    var value: Value?
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { value = nil } else if let b = try? c.decode(Bool.self) { value = .flag(b) } else {
            value = .count(try c.decode(JSONInt.self).int)
        }
    }
}

/// Any JSON value, kept only to check its presence.
struct JSONValue: Decodable {
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() || (try? c.decode(Bool.self)) != nil || (try? c.decode(Double.self)) != nil || (try? c.decode(String.self)) != nil { return }
        if (try? c.decode([JSONValue].self)) != nil || (try? c.decode([String: JSONValue].self)) != nil { return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value")
    }
}

/// A decoding error as a message naming the field.
func describe(_ e: DecodingError) -> APIError {
    func path(_ p: [any CodingKey]) -> String {
        var out = ""
        for k in p {
            if let i = k.intValue { out += "[\(i)]" } else { out += out.isEmpty ? k.stringValue : "." + k.stringValue }
        }
        return out
    }
    switch e {
    case let .typeMismatch(t, ctx):
        let field = path(ctx.codingPath)
        if field.isEmpty { return .invalid("the request body must be a JSON object") }
        let type = String(describing: t)
        let what = t == String.self ? "a string" : t == Bool.self ? "a boolean" : (t == Int.self || t == Int64.self) ? "an integer (a whole number in range)"
            : t == Double.self ? "a number" : type.hasPrefix("Array") ? "a list" : type.hasPrefix("Dictionary") ? "an object"
            : "of another type"
        return .invalid("'\(field)' must be \(what)" + (ctx.debugDescription.hasPrefix("expected") ? " (\(ctx.debugDescription))" : ""),
                        param: field)
    case let .valueNotFound(_, ctx):
        let field = path(ctx.codingPath)
        return .invalid("'\(field)' must not be null", param: field)
    case let .keyNotFound(k, ctx):
        let field = path(ctx.codingPath + [k])
        return .invalid("'\(field)' is required", param: field)
    case let .dataCorrupted(ctx):
        let field = path(ctx.codingPath)
        if field.isEmpty { return .invalid("the request body is not valid JSON") }
        return .invalid("'\(field)' is invalid: \(ctx.debugDescription)", param: field)
    @unknown default:
        return .invalid("the request body could not be read")
    }
}
