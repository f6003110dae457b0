import LanguageModels
import TensorCore

/// Feeds a prompt (after whatever the model holds), in chunks where the model needs them; returns
/// the last row's logits.
func prefill(_ m: any LanguageModel, _ tokens: [Int32]) throws -> UnsafeMutablePointer<Float> {
    let start = m.kvLength
    let logits: UnsafeMutablePointer<Float>
    if let s = m as? PrefillCapable { logits = try s.prefillChunked(tokens) } else { logits = try m.forward(tokens, at: start) }
    try requireFinite(logits, rows: 1, vocab: m.vocabSize, position: start + tokens.count - 1)
    return logits
}

/// Throws when a row of logits holds NaN or +∞ (−∞ is how a restricted head marks ids it never
/// predicts). A model that computes such a row is broken, and sampling from it would silently yield
/// token 0. One pass over the row, next to the forward that made it.
func requireFinite(_ logits: UnsafePointer<Float>, rows: Int, vocab: Int, position: Int) throws {
    for r in 0..<rows {
        let row = logits + r * vocab
        if let i = Ops.firstNaNOrPositiveInfinity(row, count: vocab) {
            throw GenerationError.nonFiniteLogits(position: position + r, token: i, value: row[i])
        }
    }
}

@inline(__always)
func timed<T>(_ seconds: inout Double, _ count: inout Int, _ body: () throws -> T) rethrows -> T {
    let t0 = WallClock.now()
    defer { seconds += WallClock.now() - t0; count += 1 }
    return try body()
}

func topProbability(_ logits: UnsafePointer<Float>, _ n: Int) -> Float {
    var mx = -Float.infinity
    for i in 0..<n { mx = max(mx, logits[i]) }
    var sum: Float = 0
    for i in 0..<n { sum += expf(logits[i] - mx) }
    return 1 / sum
}

func maxValue(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var mx: Float = 0
    for i in 0..<n { mx = max(mx, p[i]) }
    return mx
}

#if canImport(Glibc)
import Glibc
#endif
