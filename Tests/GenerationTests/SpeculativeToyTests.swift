import Generation
import TestSupport
import Tokenizer
import XCTest

final class SpeculativeToyTests: XCTestCase {
    var tokenizer: Tokenizer { ToyVocabulary.standard }
    let prompt: [Int32] = [1, 2, 3]

    func plainGreedy(_ target: ToyLM, n: Int) throws -> [Int32] {
        try Generator(model: target, tokenizer: tokenizer).generate(prompt: prompt, options: GenerationOptions(maxTokens: n)).tokens
    }

    func testGreedySpeculativeEqualsPlainGreedyForEveryDraftKindAndGamma() throws {
        let want = try plainGreedy(ToyLM(seed: 7), n: 60)
        let drafts: [(String, () -> ToyLM)] = [("always agrees", { ToyLM(seed: 7) }), ("never agrees", { ToyLM(seed: 7, agreement: 0) }),
                                              ("agrees at random", { ToyLM(seed: 7, agreement: 0.5) }),
                                              ("unrelated", { ToyLM(seed: 99, order: 1) })]
        for gamma in [1, 2, 4, 8] {
            for (name, make) in drafts {
                let dec = SerialSpeculativeDecoder(target: ToyLM(seed: 7), draft: make(), tokenizer: tokenizer)
                var rounds = 0
                dec.onRound = { tkv, dkv, committed in
                    rounds += 1
                    XCTAssertEqual(tkv, committed - 1, "target KV holds every committed token but the pending one")
                    XCTAssertTrue(dkv == committed - 1 || dkv == committed - 2, "draft KV \(dkv) vs committed \(committed)")
                }
                let r = try dec.generate(prompt: prompt, options: GenerationOptions(maxTokens: 60),
                                         speculative: SpeculativeOptions(gamma: gamma))
                XCTAssertEqual(r.tokens, want, "\(name), gamma \(gamma)")
                XCTAssertEqual(r.stats.rounds, rounds)
                XCTAssertEqual(r.stats.targetForwards, rounds + 1)  // + prefill
                if name == "always agrees" {
                    XCTAssertEqual(r.stats.acceptanceRate, 1, "gamma \(gamma)")
                    XCTAssertLessThanOrEqual(rounds, 60 / (gamma + 1) + 2)
                }
                if name == "never agrees" { XCTAssertEqual(r.stats.accepted, 0) }
            }
        }
    }

    func testDraftMinAndPMinStillLossless() throws {
        let want = try plainGreedy(ToyLM(seed: 3), n: 40)
        for (dmin, pmin) in [(3, Float(0)), (0, Float(0.3)), (2, Float(0.2))] {
            let dec = SerialSpeculativeDecoder(target: ToyLM(seed: 3), draft: ToyLM(seed: 3, agreement: 0.6), tokenizer: tokenizer)
            let r = try dec.generate(prompt: prompt, options: GenerationOptions(maxTokens: 40),
                                     speculative: SpeculativeOptions(gamma: 4, draftMin: dmin, draftPMin: pmin))
            XCTAssertEqual(r.tokens, want, "draft-min \(dmin) p-min \(pmin)")
        }
    }

    func testSampledSpeculativeMatchesTheTargetDistribution() throws {
        // First two tokens over 20,000 seeded runs, target vocabulary 6, against the exact joint law.
        let v = 6, runs = 20_000
        for params in [try SamplingParams(temperature: 1), try SamplingParams(temperature: 0.8, topK: 4)] {
            let exact = try exactJoint(ToyLM(vocabSize: v, seed: 5, sharpness: 2), prompt: prompt, params: params, v: v)
            var counts = [Int](repeating: 0, count: v * v)
            for run in 0..<runs {
                var p = params
                p.seed = UInt64(run)
                let dec = SerialSpeculativeDecoder(target: ToyLM(vocabSize: v, seed: 5, sharpness: 2),
                                                   draft: ToyLM(vocabSize: v, seed: 6, sharpness: 2, agreement: 0.7), tokenizer: tokenizer)
                let r = try dec.generate(prompt: prompt, options: GenerationOptions(maxTokens: 2, sampling: p, stopAtEOS: false),
                                         speculative: SpeculativeOptions(gamma: 3))
                counts[Int(r.tokens[0]) * v + Int(r.tokens[1])] += 1
            }
            let (chi2, df, pValue) = chiSquare(counts: counts, probabilities: exact, n: runs)
            let tv = zip(counts, exact).reduce(0.0) { $0 + abs(Double($1.0) / Double(runs) - $1.1) } / 2
            print(String(format: "SD sampling (T=%.1f, top-k %d): chi2 = %.1f, df = %d, p = %.3f, total variation %.4f",
                         params.temperature, params.topK, chi2, df, pValue, tv))
            XCTAssertGreaterThan(pValue, 0.001, "the SD output law differs from the target's")
            XCTAssertLessThan(tv, 0.03)
        }
    }
}

/// Pearson's chi-square with cells of expected count < 5 pooled; p-value from the regularized upper
/// incomplete gamma function.
func chiSquare(counts: [Int], probabilities: [Double], n: Int) -> (Double, Int, Double) {
    var chi2 = 0.0, cells = 0, pooledObs = 0.0, pooledExp = 0.0
    for (c, p) in zip(counts, probabilities) {
        let e = p * Double(n)
        if e < 5 { pooledObs += Double(c); pooledExp += e; continue }
        chi2 += (Double(c) - e) * (Double(c) - e) / e
        cells += 1
    }
    if pooledExp > 0 { chi2 += (pooledObs - pooledExp) * (pooledObs - pooledExp) / pooledExp; cells += 1 }
    let df = cells - 1
    return (chi2, df, 1 - lowerRegularizedGamma(Double(df) / 2, chi2 / 2))
}

func lowerRegularizedGamma(_ a: Double, _ x: Double) -> Double {
    guard x > 0 else { return 0 }
    var sum = 1 / a, term = 1 / a, k = 1.0
    while k < 10_000 {
        term *= x / (a + k)
        sum += term
        if term < sum * 1e-15 { break }
        k += 1
    }
    return min(1, exp(-x + a * log(x) - lgamma(a)) * sum)
}

/// P(t1, t2) for the target alone, from its own distributions.
func exactJoint(_ target: ToyLM, prompt: [Int32], params: SamplingParams, v: Int) throws -> [Double] {
    let s = Sampler(params: params, vocabSize: v)
    var p1 = [Float](repeating: 0, count: v), p2 = p1
    let l = try target.forward(prompt, at: 0)
    s.distribution(l, into: &p1)
    var joint = [Double](repeating: 0, count: v * v)
    for a in 0..<v where p1[a] > 0 {
        let l2 = try target.forward([Int32(a)], at: prompt.count)
        s.distribution(l2, into: &p2)
        for b in 0..<v { joint[a * v + b] = Double(p1[a]) * Double(p2[b]) }
        target.truncate(to: prompt.count)
    }
    return joint
}

/// P(t2, t3) for the target alone (t1 marginalized), from its own distributions.
func exactJointOfSecondAndThird(_ target: ToyLM, prompt: [Int32], params: SamplingParams, v: Int) throws -> [Double] {
    let s = Sampler(params: params, vocabSize: v)
    var p1 = [Float](repeating: 0, count: v), p2 = p1, p3 = p1
    s.distribution(try target.forward(prompt, at: 0), into: &p1)
    var joint = [Double](repeating: 0, count: v * v)
    for a in 0..<v where p1[a] > 0 {
        s.distribution(try target.forward([Int32(a)], at: prompt.count), into: &p2)
        for b in 0..<v where p2[b] > 0 {
            s.distribution(try target.forward([Int32(b)], at: prompt.count + 1), into: &p3)
            for c in 0..<v { joint[b * v + c] += Double(p1[a]) * Double(p2[b]) * Double(p3[c]) }
            target.truncate(to: prompt.count + 1)
        }
        target.truncate(to: prompt.count)
    }
    return joint
}
