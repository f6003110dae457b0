import Foundation

/// Response bodies in OpenAI's shapes. `Stats` is the `mirror_sd` object the server adds.
public struct Usage: Codable, Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int
    public init(prompt: Int, completion: Int) {
        promptTokens = prompt
        completionTokens = completion
        totalTokens = prompt + completion
    }
    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
    }
}

/// One response or stream chunk: `object` says which (chat.completion, chat.completion.chunk,
/// text_completion).
public struct CompletionBody<Stats: Encodable & Sendable>: Encodable, Sendable {
    public var id: String
    public var object: String
    public var created: Int
    public var model: String
    public var choices: [Choice]
    public var usage: Usage?
    public var mirrorSd: Stats?

    public struct Choice: Encodable, Sendable {
        public var index = 0
        /// Chat, whole response.
        public var message: Message?
        /// Chat, stream chunk.
        public var delta: Message?
        /// Text completion.
        public var text: String?
        /// nil in a chunk that is not the last: written as null.
        public var finishReason: String?
        /// Written as null when not asked for.
        public var logprobs: LogprobsBody?

        public init(message: Message? = nil, delta: Message? = nil, text: String? = nil, finishReason: String?, logprobs: LogprobsBody? = nil) {
            self.message = message
            self.delta = delta
            self.text = text
            self.finishReason = finishReason
            self.logprobs = logprobs
        }

        enum CodingKeys: String, CodingKey { case index, message, delta, text, finishReason = "finish_reason", logprobs }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encodeIfPresent(message, forKey: .message)
            try c.encodeIfPresent(delta, forKey: .delta)
            try c.encodeIfPresent(text, forKey: .text)
            try c.encode(finishReason, forKey: .finishReason)
            if let l = logprobs { try c.encode(l, forKey: .logprobs) } else { try c.encodeNil(forKey: .logprobs) }
        }
    }

    public struct Message: Encodable, Sendable {
        public var role: String?
        public var content: String?
        public init(role: String? = nil, content: String?) { self.role = role; self.content = content }
    }

    public init(id: String, object: String, created: Int, model: String, choices: [Choice], usage: Usage? = nil, mirrorSd: Stats? = nil) {
        self.id = id
        self.object = object
        self.created = created
        self.model = model
        self.choices = choices
        self.usage = usage
        self.mirrorSd = mirrorSd
    }

    enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage, mirrorSd = "mirror_sd" }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(object, forKey: .object)
        try c.encode(created, forKey: .created)
        try c.encode(model, forKey: .model)
        try c.encode(choices, forKey: .choices)
        try c.encodeIfPresent(usage, forKey: .usage)
        try c.encodeIfPresent(mirrorSd, forKey: .mirrorSd)
    }
}

/// A token's log probability as a response shows it: its text, its UTF-8 bytes, and (for the
/// generated token) the most likely tokens beside it.
public struct LogprobEntry: Sendable, Equatable {
    public var token: String
    public var bytes: [UInt8]
    public var logprob: Float
    public var top: [LogprobEntry]
    public init(token: String, bytes: [UInt8], logprob: Float, top: [LogprobEntry] = []) {
        self.token = token
        self.bytes = bytes
        self.logprob = logprob
        self.top = top
    }
}

/// A choice's log probabilities in its endpoint's shape: chat's `content` list, or the completions
/// endpoint's parallel lists.
public struct LogprobsBody: Encodable, Sendable {
    public var entries: [LogprobEntry]
    public var chat: Bool
    public init(entries: [LogprobEntry], chat: Bool) { self.entries = entries; self.chat = chat }

    struct ChatEntry: Encodable {
        var token: String
        var logprob: Float
        var bytes: [UInt8]
        var topLogprobs: [ChatEntry]?
        enum CodingKeys: String, CodingKey { case token, logprob, bytes, topLogprobs = "top_logprobs" }
    }
    enum CodingKeys: String, CodingKey {
        case content, tokens, tokenLogprobs = "token_logprobs", topLogprobs = "top_logprobs", textOffset = "text_offset"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if chat {
            try c.encode(entries.map { e in
                ChatEntry(token: e.token, logprob: e.logprob, bytes: e.bytes,
                          topLogprobs: e.top.map { ChatEntry(token: $0.token, logprob: $0.logprob, bytes: $0.bytes, topLogprobs: nil) })
            }, forKey: .content)
            return
        }
        try c.encode(entries.map(\.token), forKey: .tokens)
        try c.encode(entries.map(\.logprob), forKey: .tokenLogprobs)
        // Two tokens may spell the same text; the first (most likely) keeps its place.
        try c.encode(entries.map { e in Dictionary(e.top.map { ($0.token, $0.logprob) }, uniquingKeysWith: { a, _ in a }) }, forKey: .topLogprobs)
        var offsets: [Int] = []
        var at = 0
        for e in entries { offsets.append(at); at += e.token.utf16.count }
        try c.encode(offsets, forKey: .textOffset)
    }
}

public struct ModelList: Encodable, Sendable {
    public struct Model: Encodable, Sendable {
        public var id: String
        public var object = "model"
        public var created: Int
        public var ownedBy = "mirror-sd"
        enum CodingKeys: String, CodingKey { case id, object, created, ownedBy = "owned_by" }
    }
    public var object = "list"
    public var data: [Model]
    public init(ids: [String], created: Int) { data = ids.map { Model(id: $0, created: created) } }
}

/// One server-sent event carrying `json`, or the closing `[DONE]`.
public func sseEvent(_ json: Data) -> String { "data: " + String(decoding: json, as: UTF8.self) + "\n\n" }
public let sseDone = "data: [DONE]\n\n"
