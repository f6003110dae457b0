import TensorCore

/// Sampling parameters, validated at construction.
public struct SamplingParams: Sendable, Equatable, Codable {
    /// 0 means greedy (argmax).
    public var temperature: Float
    /// 0 disables.
    public var topK: Int
    /// 1 disables.
    public var topP: Float
    /// 0 disables.
    public var minP: Float
    public var seed: UInt64

    public static let greedy = SamplingParams(uncheckedTemperature: 0)

    init(uncheckedTemperature t: Float) { temperature = t; topK = 0; topP = 1; minP = 0; seed = 0 }

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, minP: Float = 0, seed: UInt64 = 0) throws {
        guard temperature.isFinite, temperature >= 0 else { throw SamplingError.invalid("temperature must be a finite number >= 0, got \(temperature)") }
        guard topK >= 0 else { throw SamplingError.invalid("top-k must be >= 0 (0 disables), got \(topK)") }
        guard topP.isFinite, topP > 0, topP <= 1 else { throw SamplingError.invalid("top-p must be in (0, 1], got \(topP)") }
        guard minP.isFinite, minP >= 0, minP < 1 else { throw SamplingError.invalid("min-p must be in [0, 1), got \(minP)") }
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.seed = seed
    }

    public var isGreedy: Bool { temperature == 0 }
}

public enum SamplingError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    public var description: String { switch self { case let .invalid(s): return s } }
}

/// xoshiro256** seeded through SplitMix64: the same stream on every platform, so runs repeat.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func split() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (split(), split(), split(), split())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }
}

/// Turns logits into a distribution and draws from it. The transform is, in llama.cpp's default
/// order: top-k, then top-p, then min-p (each on the softmax of the raw logits), then temperature
/// on the survivors. The same `distribution` serves the target and the draft in speculative
/// decoding, so both are transformed identically. Buffers are allocated once per vocabulary size.
public final class Sampler {
    public let params: SamplingParams
    public let vocabSize: Int
    public var rng: SeededGenerator
    let order: UnsafeMutablePointer<Int32>
    let work: UnsafeMutablePointer<Float>
    let sampled: UnsafeMutablePointer<Float>

    public init(params: SamplingParams, vocabSize: Int) {
        self.params = params
        self.vocabSize = vocabSize
        rng = SeededGenerator(seed: params.seed)
        order = .allocate(capacity: vocabSize)
        work = .allocate(capacity: vocabSize)
        sampled = .allocate(capacity: vocabSize)
    }

    deinit {
        order.deallocate()
        work.deallocate()
        sampled.deallocate()
    }

    /// The argmax and the runner-up (-1 when count is 1); ties go to the lower id, as in argmax.
    public static func topTwo(_ logits: UnsafePointer<Float>, count: Int) -> (Int32, Int32) {
        var best = 0, second = -1
        var bestValue = logits[0], secondValue = -Float.infinity
        for i in 1..<max(count, 1) {
            let x = logits[i]
            if x > bestValue {
                second = best; secondValue = bestValue
                best = i; bestValue = x
            } else if second < 0 || x > secondValue {
                second = i; secondValue = x
            }
        }
        return (Int32(best), Int32(second))
    }

    /// The first index of the maximum (NaNs never win).
    public static func argmax(_ logits: UnsafePointer<Float>, count: Int) -> Int32 {
        Int32(Ops.argmax(logits, count: count))
    }

    /// Writes the transformed distribution (sums to 1; filtered tokens are exactly 0) into `probs`,
    /// which must not be one of this sampler's own buffers. Greedy
    /// parameters give a one-hot distribution on the argmax.
    public func distribution(_ logits: UnsafePointer<Float>, into probs: UnsafeMutablePointer<Float>) {
        let n = vocabSize
        if params.isGreedy {
            probs.update(repeating: 0, count: n)
            probs[Int(Self.argmax(logits, count: n))] = 1
            return
        }
        // Softmax of the raw logits (for the filters).
        var mx = -Float.infinity
        for i in 0..<n { mx = max(mx, logits[i]) }
        var sum: Double = 0
        for i in 0..<n { let e = expf(logits[i] - mx); work[i] = e; sum += Double(e) }
        let inv = Float(1 / sum)
        for i in 0..<n { work[i] *= inv }
        // Keep-set by the filters: sort candidates by probability when a rank-based filter is on.
        var keep = n
        let needsOrder = params.topK > 0 || params.topP < 1
        if needsOrder {
            for i in 0..<n { order[i] = Int32(i) }
            let w = work
            var sorted = UnsafeMutableBufferPointer(start: order, count: n)
            sorted.sort { a, b in
                let pa = w[Int(a)], pb = w[Int(b)]
                return pa > pb || (pa == pb && a < b)
            }
            if params.topK > 0 { keep = min(keep, params.topK) }
            if params.topP < 1 {
                var cum: Float = 0
                for r in 0..<keep {
                    cum += work[Int(order[r])]
                    if cum >= params.topP { keep = r + 1; break }
                }
            }
        }
        let floor = params.minP > 0 ? params.minP * work[Int(Self.argmax(logits, count: n))] : 0
        // Temperature on the survivors.
        probs.update(repeating: 0, count: n)
        let invT = 1 / params.temperature
        var total: Double = 0
        func admit(_ i: Int) {
            guard work[i] >= floor else { return }
            let e = expf((logits[i] - mx) * invT)
            probs[i] = e
            total += Double(e)
        }
        if needsOrder { for r in 0..<keep { admit(Int(order[r])) } } else { for i in 0..<n { admit(i) } }
        let norm = Float(1 / total)
        for i in 0..<n where probs[i] != 0 { probs[i] *= norm }
    }

    /// Draws a token from a distribution (which need not be perfectly normalized).
    public func draw(_ probs: UnsafePointer<Float>) -> Int32 {
        var total: Double = 0
        for i in 0..<vocabSize { total += Double(probs[i]) }
        let u = rng.uniform() * total
        var cum: Double = 0
        var last = 0
        for i in 0..<vocabSize where probs[i] > 0 {
            cum += Double(probs[i])
            last = i
            if u < cum { return Int32(i) }
        }
        return Int32(last)
    }

    /// The next token for these logits.
    public func sample(_ logits: UnsafePointer<Float>) -> Int32 {
        if params.isGreedy { return Self.argmax(logits, count: vocabSize) }
        distribution(logits, into: sampled)
        return draw(sampled)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
