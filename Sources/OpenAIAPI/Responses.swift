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

        public init(message: Message? = nil, delta: Message? = nil, text: String? = nil, finishReason: String?) {
            self.message = message
            self.delta = delta
            self.text = text
            self.finishReason = finishReason
        }

        enum CodingKeys: String, CodingKey { case index, message, delta, text, finishReason = "finish_reason", logprobs }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encodeIfPresent(message, forKey: .message)
            try c.encodeIfPresent(delta, forKey: .delta)
            try c.encodeIfPresent(text, forKey: .text)
            try c.encode(finishReason, forKey: .finishReason)
            try c.encodeNil(forKey: .logprobs)
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
