import Generation
import TestSupport
import XCTest

final class SamplerTests: XCTestCase {
    func dist(_ logits: [Float], _ p: SamplingParams) -> [Float] {
        let s = Sampler(params: p, vocabSize: logits.count)
        var out = [Float](repeating: -1, count: logits.count)
        logits.withUnsafeBufferPointer { l in out.withUnsafeMutableBufferPointer { s.distribution(l.baseAddress!, into: $0.baseAddress!) } }
        return out
    }

    // Softmax of these logits: about [0.643, 0.237, 0.087, 0.032, 0.0012].
    let logits: [Float] = [3, 2, 1, 0, -3.3]

    func testTopKKeepsExactlyK() throws {
        for k in 1...5 {
            let d = dist(logits, try SamplingParams(temperature: 1, topK: k))
            XCTAssertEqual(d.filter { $0 > 0 }.count, k)
            XCTAssertTrue(d.prefix(k).allSatisfy { $0 > 0 })
            XCTAssertEqual(d.reduce(0, +), 1, accuracy: 1e-6)
        }
    }

    func testTopPKeepsTheSmallestSetReachingP() throws {
        XCTAssertEqual(dist(logits, try SamplingParams(temperature: 1, topP: 0.5)).filter { $0 > 0 }.count, 1)
        XCTAssertEqual(dist(logits, try SamplingParams(temperature: 1, topP: 0.8)).filter { $0 > 0 }.count, 2)
        XCTAssertEqual(dist(logits, try SamplingParams(temperature: 1, topP: 0.9)).filter { $0 > 0 }.count, 3)
        XCTAssertEqual(dist(logits, try SamplingParams(temperature: 1, topP: 1)).filter { $0 > 0 }.count, 5)
    }

    func testMinPDropsTokensBelowAShareOfTheTop() throws {
        // 0.643 · 0.1 = 0.064: keeps tokens 0, 1, 2.
        let d = dist(logits, try SamplingParams(temperature: 1, minP: 0.1))
        XCTAssertEqual(d.map { $0 > 0 }, [true, true, true, false, false])
        XCTAssertEqual(d[0] / d[1], expf(1), accuracy: 1e-4)
    }

    func testTemperatureScalesAfterFilteringAndZeroIsGreedy() throws {
        let d = dist(logits, try SamplingParams(temperature: 0.5, topK: 2))
        XCTAssertEqual(d[0] / d[1], expf(2), accuracy: 1e-3)
        XCTAssertEqual(dist(logits, .greedy), [1, 0, 0, 0, 0])
        let tiny = dist(logits, try SamplingParams(temperature: 1e-3))
        XCTAssertEqual(tiny[0], 1, accuracy: 1e-6)
        let s = Sampler(params: try SamplingParams(temperature: 1e-4, seed: 3), vocabSize: 5)
        for _ in 0..<100 { XCTAssertEqual(logits.withUnsafeBufferPointer { s.sample($0.baseAddress!) }, 0) }
    }

    func testSeededSamplingRepeatsAndFollowsTheDistribution() throws {
        let p = try SamplingParams(temperature: 1, seed: 7)
        func run() -> [Int32] {
            let s = Sampler(params: p, vocabSize: 5)
            return (0..<20_000).map { _ in logits.withUnsafeBufferPointer { s.sample($0.baseAddress!) } }
        }
        let a = run()
        XCTAssertEqual(a, run())
        let want = dist(logits, p)
        for t in 0..<5 {
            let freq = Float(a.filter { $0 == Int32(t) }.count) / Float(a.count)
            // 5 standard errors of a binomial share over 20,000 draws.
            XCTAssertEqual(freq, want[t], accuracy: 5 * (want[t] * (1 - want[t]) / 20_000).squareRoot() + 1e-4, "token \(t)")
        }
    }

    func testInvalidParametersAreRefused() {
        XCTAssertThrowsError(try SamplingParams(temperature: -1))
        XCTAssertThrowsError(try SamplingParams(temperature: .nan))
        XCTAssertThrowsError(try SamplingParams(topK: -1))
        XCTAssertThrowsError(try SamplingParams(topP: 0))
        XCTAssertThrowsError(try SamplingParams(topP: 1.5))
        XCTAssertThrowsError(try SamplingParams(minP: 1))
        XCTAssertThrowsError(try SamplingParams(minP: -0.1))
    }

    func testStopMatcherHoldsPartialMatches() {
        var m = StopMatcher(["</end>", "STOP"])
        XCTAssertEqual(m.push("hello <").emit, "hello ")
        XCTAssertEqual(m.push("/e").emit, "")
        let r = m.push("nd> more")
        XCTAssertEqual(r.emit, "")
        XCTAssertTrue(r.stopped)
        var m2 = StopMatcher(["STOP"])
        XCTAssertEqual(m2.push("x ST").emit, "x ")
        let r2 = m2.push("ART and STO")
        XCTAssertEqual(r2.emit, "START and ")
        XCTAssertFalse(r2.stopped)
        let r3 = m2.push("P tail")
        XCTAssertTrue(r3.stopped)
        XCTAssertEqual(r3.emit, "")
        var m3 = StopMatcher(["STOP"])
        XCTAssertEqual(m3.push("ends with ST").emit, "ends with ")
        XCTAssertEqual(m3.finish(), "ST")
    }
}
