/// An error a user can act on: the message names the value, the limit and, where there is one, the
/// fix. The CLI prints it as is; the server returns it in an OpenAI-shaped error object.
public struct EngineError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ message: String) { description = message }
}
