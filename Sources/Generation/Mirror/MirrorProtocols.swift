import Llama

/// A model that can run a tree of speculative branches over its committed prefix (the draft in
/// Mirror-SD). Pending nodes follow the committed prefix; see `LlamaSession.forwardTree`.
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
}

extension EarlyExitLanguageModel {
    public func batchLogits() -> UnsafeMutablePointer<Float> { batchLogits(vocabLimit: nil) }
}

/// Drafts that can say how sure they are of a row's argmax cheaply (prompt lookup knows exactly).
public protocol ConfidenceReporting {
    /// The top probability of logit row `row` of the last forward.
    func topProbability(row: Int) -> Float
}

extension LlamaSession: TreeLanguageModel, EarlyExitLanguageModel {
    public var layerCount: Int { config.layers }
    public func beginBatch(_ tokens: UnsafeBufferPointer<Int32>, at position: Int) throws { try begin(tokens: tokens, at: position) }
    public func batchLogits(vocabLimit: Int?) -> UnsafeMutablePointer<Float> { computeLogits(rows: 0..<batchRows, vocabLimit: vocabLimit) }
}
