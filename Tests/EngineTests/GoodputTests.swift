import Engine
import Generation
import XCTest

/// The goodput rule drafts where rows are cheap and acceptance is high, not where the forward is
/// compute-bound, and does not flap at the edge; prompt lookup proposes what followed the last n-gram.
final class GoodputTests: XCTestCase {
    func cost(_ points: [(Int, Double)]) -> StepCost {
        var c = StepCost()
        c.setCalibration(points.map { (rows: $0.0, seconds: $0.1) })
        return c
    }

    func testStepCostInterpolatesAndExtrapolatesLinearly() {
        let c = cost([(1, 2), (4, 5), (8, 13)])
        XCTAssertEqual(c.estimate(1), 2)
        XCTAssertEqual(c.estimate(2), 3)
        XCTAssertEqual(c.estimate(6), 9)
        XCTAssertEqual(c.estimate(16), 26, "past the last point: proportional to rows")
        var d = c
        d.record(rows: 4, seconds: 10)
        XCTAssertEqual(d.estimate(4), 10, "the first forward run sets the level")
        d.record(rows: 4, seconds: 5)
        XCTAssertEqual(d.estimate(4), 7.5, accuracy: 1e-9)
    }

    func testDraftsWhereRowsAreCheapAndNotWhereTheyCostTheirShare() {
        let policy = GoodputPolicy(maxDraft: 4, margin: 0.03)
        // Memory-bound: a few more rows cost 10 % more each; acceptance 0.7 pays.
        let cheap = cost([(1, 1), (2, 1.1), (4, 1.3), (8, 1.7), (16, 2.5)])
        var offers = [DraftOffer(alpha: 0.7, offered: 4), DraftOffer(alpha: 0.1, offered: 4)]
        let k = policy.plan(&offers, decodeRows: 2, otherRows: 0, room: 62, cost: cheap, wasSpeculating: false)
        XCTAssertGreaterThan(k, 0)
        XCTAssertEqual(k, offers.map(\.take).reduce(0, +))
        XCTAssertGreaterThan(offers[0].take, offers[1].take, "the sequence whose drafts are kept gets the rows")
        XCTAssertTrue(offers.allSatisfy { $0.take <= $0.offered })
        // Compute-bound: every row costs as much as a decode row; nothing below acceptance 1 pays.
        let linear = cost([(1, 1), (64, 64)])
        offers = [DraftOffer(alpha: 0.9, offered: 4), DraftOffer(alpha: 0.9, offered: 4)]
        XCTAssertEqual(policy.plan(&offers, decodeRows: 8, otherRows: 0, room: 56, cost: linear, wasSpeculating: true), 0)
        XCTAssertTrue(offers.allSatisfy { $0.take == 0 })
        // Nothing offered, no room, or no calibration: plain decoding.
        offers = [DraftOffer(alpha: 0.9, offered: 0)]
        XCTAssertEqual(policy.plan(&offers, decodeRows: 1, otherRows: 0, room: 10, cost: cheap, wasSpeculating: false), 0)
        offers = [DraftOffer(alpha: 0.9, offered: 3)]
        XCTAssertEqual(policy.plan(&offers, decodeRows: 1, otherRows: 0, room: 0, cost: cheap, wasSpeculating: false), 0)
        XCTAssertEqual(policy.plan(&offers, decodeRows: 1, otherRows: 0, room: 10, cost: StepCost(), wasSpeculating: false), 0)
    }

    func testStartingToDraftMustBeatPlainDecodingByTheMargin() {
        // One row 1.0, two rows 1.2: a drafted row adds 0.2 s for α tokens, where plain decoding makes 1 token
        // a second; it pays from α = 0.2, and starting needs 0.2 · 1.03 = 0.206.
        let c = cost([(1, 1), (2, 1.2)])
        let policy = GoodputPolicy(maxDraft: 1, margin: 0.03)
        var offers = [DraftOffer(alpha: 0.203, offered: 1)]
        XCTAssertEqual(policy.plan(&offers, decodeRows: 1, otherRows: 0, room: 8, cost: c, wasSpeculating: false), 0, "under the margin: stays plain")
        XCTAssertEqual(policy.plan(&offers, decodeRows: 1, otherRows: 0, room: 8, cost: c, wasSpeculating: true), 1, "already drafting: goes on")
        offers = [DraftOffer(alpha: 0.25, offered: 1)]
        XCTAssertEqual(policy.plan(&offers, decodeRows: 1, otherRows: 0, room: 8, cost: c, wasSpeculating: false), 1)
        offers = [DraftOffer(alpha: 0.15, offered: 1)]
        XCTAssertEqual(policy.plan(&offers, decodeRows: 1, otherRows: 0, room: 8, cost: c, wasSpeculating: true), 0, "below break-even: stops")
    }

    func testPromptRowsInTheStepDoNotMakeDraftedRowsLookFree() {
        // Compute-bound past 8 rows: a row costs 1. Eight decode rows and 32 prompt rows: a drafted row adds a
        // whole row's time, which plain decoding turns into more tokens than a guess kept half the time.
        let c = cost([(1, 3), (8, 8), (64, 64)])
        var offers = (0..<8).map { _ in DraftOffer(alpha: 0.5, offered: 4) }
        XCTAssertEqual(GoodputPolicy().plan(&offers, decodeRows: 8, otherRows: 32, room: 24, cost: c, wasSpeculating: false), 0)
    }

    func testAcceptanceLearnsFromKeptAndRefusedTokensAndDriftsBackWhenIdle() {
        let p = GoodputPolicy(prior: 0.5, learningRate: 0.25, recovery: 0.1)
        XCTAssertEqual(p.update(0.5, drafted: 3, accepted: 3), 1 - 0.5 * 0.75 * 0.75 * 0.75, accuracy: 1e-12)
        XCTAssertEqual(p.update(0.5, drafted: 3, accepted: 0), 0.375, accuracy: 1e-12)
        XCTAssertEqual(p.update(0.1, drafted: 0, accepted: 0), 0.14, accuracy: 1e-12)
    }

    func testPromptLookupProposesWhatFollowedTheLongestLatestMatch() {
        let ctx: [Int32] = [5, 6, 7, 8, 9, 1, 6, 7, 2, 3, 6, 7]
        var out: [Int32] = [42]
        let n = ctx.withUnsafeBufferPointer { PromptLookup.propose($0, limit: 3, appendingTo: &out) }
        // "6 7" last occurred at 6...7, followed by 2 3 6; the append keeps what was there.
        XCTAssertEqual(n, 3)
        XCTAssertEqual(out, [42, 2, 3, 6])
        let short: [Int32] = [1, 2, 3, 4]
        XCTAssertNil(short.withUnsafeBufferPointer { PromptLookup.match($0) }, "no earlier occurrence")
        let tail: [Int32] = [4, 9, 4]
        out = []
        XCTAssertEqual(tail.withUnsafeBufferPointer { PromptLookup.propose($0, limit: 5, appendingTo: &out) }, 2, "stops at the context's end")
        XCTAssertEqual(out, [9, 4])
        XCTAssertEqual(tail.withUnsafeBufferPointer { PromptLookup.propose($0, limit: 0, appendingTo: &out) }, 0)
    }
}
