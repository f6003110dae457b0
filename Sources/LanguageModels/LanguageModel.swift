/// What the decoders need of a model, and nothing of how it computes: the Llama model conforms in
/// its own module, toy models in tests, prompt lookup in Generation. Kept apart so that the
/// decoders never import a model.

/// Anything that proposes or verifies tokens. Appending `tokens` at `position` (== kvLength)
/// returns their logit rows.
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

/// Models whose batch capacity is limited, so a long prompt goes in chunks.
public protocol PrefillCapable {
    /// Appends `tokens` after what the model holds; the last row's logits.
    func prefillChunked(_ tokens: [Int32]) throws -> UnsafeMutablePointer<Float>
}

/// A model that can run a tree of speculative branches over its committed prefix (the draft in
/// Mirror-SD). Pending nodes follow the committed prefix.
public protocol TreeLanguageModel: LanguageModel {
    var committedLength: Int { get }
    var pendingCount: Int { get }
    /// Appends rows as tree nodes; parents[r] is -1 (child of the committed prefix), a pending node
    /// index, or pendingCount + j for row j < r of this batch. Returns every row's logits.
    func forwardTree(_ tokens: UnsafeBufferPointer<Int32>, parents: UnsafeBufferPointer<Int32>) throws -> UnsafeMutablePointer<Float>
    /// Commits the chain `path`, keeps the chain `keep` that continues it as the new pending nodes.
    func commitTree(path: UnsafeBufferPointer<Int32>, keep: UnsafeBufferPointer<Int32>) throws
}

/// A model whose forward can stop after any layer and expose a proxy distribution there (the
/// target in Mirror-SD): begin, run layers in ranges, read logits of the current hidden state.
public protocol EarlyExitLanguageModel: LanguageModel {
    var layerCount: Int { get }
    /// Embeds a causal batch appended at `position` (== kvLength).
    func beginBatch(_ tokens: UnsafeBufferPointer<Int32>, at position: Int) throws
    func runLayers(_ range: Range<Int>) throws
    /// Logits (final norm + head) of every batch row from the hidden state after the layers run so far;
    /// with `vocabLimit`, of the first `vocabLimit` tokens only (rows that far apart).
    func batchLogits(vocabLimit: Int?) -> UnsafeMutablePointer<Float>
    /// The early-exit proxy's logits: `batchLogits`, or through a trained exit lens when one is
    /// attached for the layers run so far.
    func proxyLogits(vocabLimit: Int?) -> UnsafeMutablePointer<Float>
    /// The layer an attached exit lens was trained for; nil without one.
    var exitLensLayer: Int? { get }
}

extension EarlyExitLanguageModel {
    public func batchLogits() -> UnsafeMutablePointer<Float> { batchLogits(vocabLimit: nil) }
    public func proxyLogits(vocabLimit: Int?) -> UnsafeMutablePointer<Float> { batchLogits(vocabLimit: vocabLimit) }
    public var exitLensLayer: Int? { nil }
}

/// Drafts that can say how sure they are of a row's argmax cheaply (prompt lookup knows exactly).
public protocol ConfidenceReporting {
    /// The top probability of logit row `row` of the last forward.
    func topProbability(row: Int) -> Float
}
