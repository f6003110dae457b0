import LanguageModels

extension LlamaSession: TreeLanguageModel, EarlyExitLanguageModel, PrefillCapable {
    public var vocabSize: Int { config.vocabSize }
    public var layerCount: Int { config.layers }
    public func prefillChunked(_ tokens: [Int32]) throws -> UnsafeMutablePointer<Float> { try prefill(tokens, at: kvLength) }
    public func beginBatch(_ tokens: UnsafeBufferPointer<Int32>, at position: Int) throws { try begin(tokens: tokens, at: position) }
    public func batchLogits(vocabLimit: Int?) -> UnsafeMutablePointer<Float> { computeLogits(rows: 0..<batchRows, vocabLimit: vocabLimit) }
    public func proxyLogits(vocabLimit: Int?) -> UnsafeMutablePointer<Float> { computeProxyLogits(rows: 0..<batchRows, vocabLimit: vocabLimit) }
    public var exitLensLayer: Int? { exitLens?.layer }
}
