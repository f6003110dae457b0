import Foundation

/// An error in the shape OpenAI's clients read: `{"error": {"message", "type", "param", "code"}}`,
/// with the HTTP status it goes out with.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?

    public init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }

    public var description: String { "\(status) \(type): \(message)" }

    private struct Body: Encodable {
        let error: APIError
    }

    /// The JSON body; `param` and `code` are written as null when absent, as OpenAI does.
    public func json() -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (try? e.encode(Body(error: self))) ?? Data()
    }
}

extension APIError: Encodable {
    enum Keys: String, CodingKey { case message, type, param, code }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(message, forKey: .message)
        try c.encode(type, forKey: .type)
        try c.encode(param, forKey: .param)  // nil encodes as null
        try c.encode(code, forKey: .code)
    }
}
