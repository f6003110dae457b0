import Generation
import XCTest

final class DraftAgreementTests: XCTestCase {
    /// Windows start after the first token; each accepts the longest run of matches (at most γ) and
    /// commits it plus the target's own token.
    func testWindowsAcceptTheLongestMatchingRunPlusOne() {
        //                 0     1     2     3     4     5     6     7     8     9
        let match: [Bool] = [false, true, true, false, true, true, true, true, true, false]
        var a = DraftAgreement()
        a.add(match, gammas: [1, 2, 4])
        XCTAssertEqual(a.matches, 7)
        XCTAssertEqual(a.positions, 10)
        // γ=4: [1,2 ok, 3 miss] → 3 tokens; [4..7 ok] → 4+1 = 5 tokens (ends at 8); [9 miss] → 1 token.
        XCTAssertEqual(a.steps[4], 3)
        XCTAssertEqual(a.tokens[4], 9)
        // γ=1: 1,2 → 2; 3 → 1; 4,5 → 2; 6,7 → 2; 8,9 → 2 (9 is the bonus after 8's match).
        XCTAssertEqual(a.steps[1], 5)
        XCTAssertEqual(a.tokens[1], 9)
        // γ=2: 1,2,3 → 3; 4,5,6 → 3; 7,8,9 → 3.
        XCTAssertEqual(a.steps[2], 3)
        XCTAssertEqual(a.tokensPerStep(gamma: 2), 3)
        // Every position after the first is committed exactly once, whatever γ.
        for g in [1, 2, 4] { XCTAssertEqual(a.tokens[g], match.count - 1) }
    }

    func testAllMatchesReachGammaPlusOneAndMergeAdds() {
        var a = DraftAgreement()
        a.add(Array(repeating: true, count: 11), gammas: [4])
        XCTAssertEqual(a.tokensPerStep(gamma: 4), 5)
        var b = DraftAgreement()
        b.add(Array(repeating: false, count: 5), gammas: [4])
        XCTAssertEqual(b.tokensPerStep(gamma: 4), 1)
        a.merge(b)
        XCTAssertEqual(a.positions, 16)
        XCTAssertEqual(a.tokensPerStep(gamma: 4), Double(10 + 4) / Double(2 + 4))
        XCTAssertEqual(DraftAgreement().top1, 0)
    }
}
