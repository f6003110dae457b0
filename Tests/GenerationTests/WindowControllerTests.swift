import Generation
import XCTest

/// The adaptive γ's choices on scripted measurements: the model is deterministic, so each case
/// checks the window the latency law says pays most.
final class WindowControllerTests: XCTestCase {
    func controller(rounds: Int, drafted: Int, accepted: Int, verify: Double, draftStep: Double, reused: Bool,
                    rowCost: Double, maxGamma: Int = 8) -> WindowController {
        var c = WindowController(maxGamma: maxGamma, rowCost: rowCost)
        for i in 0..<rounds {
            c.record(drafted: drafted, acceptedLength: accepted, verifySeconds: verify, draftStepSeconds: draftStep, reused: i == 0 ? nil : reused)
        }
        return c
    }

    func testTheFirstWindowIsTheLongest() {
        XCTAssertEqual(WindowController(maxGamma: 6, rowCost: 0.01).gamma, 6)
    }

    func testAnAccurateDraftBehindASlowTargetGetsTheLongestWindow() {
        let c = controller(rounds: 20, drafted: 8, accepted: 8, verify: 0.1, draftStep: 0.005, reused: true, rowCost: 0.002)
        XCTAssertGreaterThan(c.alpha, 0.99)
        XCTAssertEqual(c.gamma, 8)
    }

    func testADraftTheTargetRejectsGetsOneToken() {
        let c = controller(rounds: 20, drafted: 4, accepted: 0, verify: 0.1, draftStep: 0.005, reused: false, rowCost: 0.01)
        XCTAssertLessThan(c.alpha, 0.2)
        XCTAssertEqual(c.gamma, 1)
    }

    func testASlowDraftShortensTheWindow() {
        // Each window token costs the draft 30 ms against a 50 ms verification: past one token the
        // draft is the slower side, and longer windows only add its time.
        let slow = controller(rounds: 20, drafted: 4, accepted: 4, verify: 0.05, draftStep: 0.03, reused: true, rowCost: 0.001)
        let fast = controller(rounds: 20, drafted: 4, accepted: 4, verify: 0.05, draftStep: 0.003, reused: true, rowCost: 0.001)
        XCTAssertLessThanOrEqual(slow.gamma, 2)
        XCTAssertEqual(fast.gamma, 8)
    }

    func testAMeasuredRowCountOverridesTheExtrapolation() {
        // The prefill's row cost says 2 rows cost 140 ms less than 9; the time per row caps that, and
        // once measured, 2 rows cost what they cost.
        var c = WindowController(maxGamma: 8, rowCost: 0.02)
        c.record(drafted: 8, acceptedLength: 8, verifySeconds: 0.1, draftStepSeconds: 1e-9, reused: nil)
        XCTAssertEqual(c.seconds(1), 0.1 * 2 / 9, accuracy: 1e-6, "no less than the measured time per row")
        c.record(drafted: 1, acceptedLength: 1, verifySeconds: 0.09, draftStepSeconds: 1e-9, reused: true)
        XCTAssertEqual(c.seconds(1), 0.09, accuracy: 1e-6, "measured at 2 rows")
        XCTAssertEqual(c.seconds(8), 0.1, accuracy: 1e-6, "measured at 9 rows")
        // Between the two, the per-row cap still makes 6 rows look cheaper than 9 (worth one try).
        XCTAssertEqual(c.gamma, 5, "an accurate draft and a near-flat verification cost: past the short windows")
    }
}
