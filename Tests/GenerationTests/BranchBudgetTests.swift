import Generation
import XCTest

/// The branch budget's arithmetic on given timings (no clock involved).
final class BranchBudgetTests: XCTestCase {
    func testUnmeasuredTimingsRollEveryBranch() {
        var b = BranchBudget(maxWindow: 4, maxRows: 8)
        XCTAssertEqual(b.rows(live: 5, ownFirst: true, ownStepsAfter: 2, left: 0.001), 5, "no batch measured")
        b.recordBatch(rows: 1, seconds: 0.001)
        XCTAssertEqual(b.rows(live: 5, ownFirst: true, ownStepsAfter: 2, left: nil), 5, "no verification measured")
        XCTAssertNil(b.verification(window: 3))
        b.recordVerification(window: 0, seconds: 1)
        b.recordVerification(window: 3, seconds: -1)
        XCTAssertNil(b.verification(window: 3), "an empty window or a negative time is not a measurement")
    }

    func testBatchCostsAreBoundedFromWhatWasMeasured() {
        var b = BranchBudget(maxWindow: 4, maxRows: 8)
        b.recordBatch(rows: 1, seconds: 0.001)
        b.recordBatch(rows: 3, seconds: 0.002)
        XCTAssertEqual(b.batch(rows: 2)!, 0.002, accuracy: 1e-12, "the nearest larger batch bounds a smaller one")
        XCTAssertEqual(b.batch(rows: 6)!, 0.004, accuracy: 1e-12, "a larger batch: the nearest smaller one, per row")
        XCTAssertEqual(b.batch(rows: 20)!, 0.002 * 20 / 3, accuracy: 1e-12, "beyond the table too")
        b.recordBatch(rows: 3, seconds: 0.004)
        XCTAssertEqual(b.batch(rows: 3)!, 0.8 * 0.002 + 0.2 * 0.004, accuracy: 1e-12, "an exponential mean")
    }

    func testRowsFitTheTimeLeftAfterTheOwnBranchsLaterSteps() {
        var b = BranchBudget(maxWindow: 4, maxRows: 8)
        b.recordBatch(rows: 1, seconds: 0.001)
        b.recordBatch(rows: 3, seconds: 0.002)
        // 5 rows: 2 × 5/3 ms, 4 rows: 2 × 4/3 ms, 3 rows: 2 ms.
        XCTAssertEqual(b.rows(live: 5, ownFirst: true, ownStepsAfter: 0, left: 0.0025), 3)
        XCTAssertEqual(b.rows(live: 5, ownFirst: true, ownStepsAfter: 0, left: 0.004), 5)
        // Two more own steps (1 ms each) come out of the time first.
        XCTAssertEqual(b.rows(live: 5, ownFirst: true, ownStepsAfter: 2, left: 0.0035), 1)
        // Out of time: the own branch still steps, other branches do not.
        XCTAssertEqual(b.rows(live: 5, ownFirst: true, ownStepsAfter: 0, left: -0.001), 1)
        XCTAssertEqual(b.rows(live: 5, ownFirst: false, ownStepsAfter: 0, left: 0.0001), 0)
        // Rows that run anyway (a node for the window's last token) count in the batch.
        XCTAssertEqual(b.rows(live: 3, extra: 1, ownFirst: false, ownStepsAfter: 0, left: 0.002), 2)
    }
}
