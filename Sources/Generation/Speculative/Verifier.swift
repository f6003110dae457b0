/// The acceptance rule shared by serial SD and Mirror-SD.
///
/// Greedy: accept drafted tokens while each equals the target's argmax; the next token is the
/// target's argmax at the first mismatch (the correction) or after the window (the bonus).
/// Sampling (Leviathan et al.; Chen et al.): accept d_j with probability min(1, q_j(d)/p_j(d)); on
/// rejection draw from normalize(max(0, q_j − p_j)); after a full accept draw the bonus from q_γ.
/// q and p are the same sampler transform applied to the target's and the draft's logits.
public final class Verifier {
    public let vocabSize: Int
    public let sampler: Sampler
    var rng: SeededGenerator
    let q: UnsafeMutablePointer<Float>

    public init(params: SamplingParams, vocabSize: Int) {
        self.vocabSize = vocabSize
        sampler = Sampler(params: params, vocabSize: vocabSize)
        rng = SeededGenerator(seed: params.seed ^ 0x5EED_0F_AC_CE_97)
        q = .allocate(capacity: vocabSize)
    }

    deinit { q.deallocate() }

    public var isGreedy: Bool { sampler.params.isGreedy }

    /// - Parameters:
    ///   - window: the n drafted tokens.
    ///   - draftProbs: n rows of the draft's transformed distributions (ignored when greedy).
    ///   - targetLogits: n + 1 rows: the target's logits after the last committed token and after
    ///     each drafted token.
    /// - Returns: how many drafted tokens are accepted, and the token that follows them.
    public func verify(window: UnsafeBufferPointer<Int32>, draftProbs: UnsafePointer<Float>?,
                       targetLogits: UnsafePointer<Float>) -> (accepted: Int, next: Int32) {
        let n = window.count, v = vocabSize
        if isGreedy {
            for j in 0..<n {
                let t = Sampler.argmax(targetLogits + j * v, count: v)
                if t != window[j] { return (j, t) }
            }
            return (n, Sampler.argmax(targetLogits + n * v, count: v))
        }
        guard let p = draftProbs else { preconditionFailure("sampling verification needs the draft's distributions") }
        for j in 0..<n {
            sampler.distribution(targetLogits + j * v, into: q)
            let d = Int(window[j])
            let pj = p + j * v
            let ratio = pj[d] > 0 ? Double(q[d]) / Double(pj[d]) : 0
            if rng.uniform() < min(1, ratio) { continue }
            var total: Double = 0
            for i in 0..<v {
                let r = max(0, q[i] - pj[i])
                q[i] = r
                total += Double(r)
            }
            // q == p exactly would leave nothing; then any draw from q is right, and q is gone, so
            // fall back to the argmax of the target, which has q-mass whenever q == p.
            if total <= 0 { return (j, Sampler.argmax(targetLogits + j * v, count: v)) }
            return (j, drawFrom(q, total: total))
        }
        sampler.distribution(targetLogits + n * v, into: q)
        return (n, drawFrom(q, total: 1))
    }

    func drawFrom(_ probs: UnsafePointer<Float>, total: Double) -> Int32 {
        let u = rng.uniform() * total
        var cum: Double = 0, last = 0
        for i in 0..<vocabSize where probs[i] > 0 {
            cum += Double(probs[i])
            last = i
            if u < cum { return Int32(i) }
        }
        return Int32(last)
    }
}
