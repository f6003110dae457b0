import Llama

/// Anything that proposes or verifies tokens: the Llama model on either backend, or a toy model in
/// tests. Appending `tokens` at `position` (== kvLength) returns their logit rows.
public protocol LanguageModel: AnyObject {
    var vocabSize: Int { get }
    var kvLength: Int { get }
    var maxContext: Int { get }
    /// Logits of the last row, or of every row when `allLogits`, each `vocabSize` floats; valid until
    /// the next call.
    func forward(_ tokens: UnsafeBufferPointer<Int32>, at position: Int, allLogits: Bool) throws -> UnsafeMutablePointer<Float>
    /// Drops KV positions at and after `length`.
    func truncate(to length: Int)
}

extension LanguageModel {
    public func forward(_ tokens: [Int32], at position: Int, allLogits: Bool = false) throws -> UnsafeMutablePointer<Float> {
        try tokens.withUnsafeBufferPointer { try forward($0, at: position, allLogits: allLogits) }
    }
}

extension LlamaSession: LanguageModel, PrefillCapable {
    public var vocabSize: Int { config.vocabSize }
    func prefillChunked(_ tokens: [Int32]) throws -> UnsafeMutablePointer<Float> { try prefill(tokens, at: kvLength) }
}
