/// The draft's branch budget (`MirrorOptions.branchBudget`): how many rows of branches beyond its own
/// it can roll out before the verdict arrives, from timings it measured itself. A branch step that
/// would still run when the verdict lands delays the next window (the target then waits for the rest
/// of the step), so the draft takes a step only when the model says it ends in time, and spends the
/// rows on the most likely branches first (they come first in its branch order).
///
/// Two measurements, exponential means per size:
/// - the verification as the draft sees it, from publishing a window of n tokens to the verdict's
///   post, by n;
/// - one branch step (its batched tree forward and the choice of each row), by its row count.
///
/// An unmeasured batch size is bounded from above by what was measured: the nearest larger batch's
/// cost (a forward never gets cheaper with more rows), else the nearest smaller one's scaled by the
/// row ratio (no batch is worse than its rows run one at a time). Until a window length has been
/// verified once there is no deadline, and every branch rolls as without a budget. Never allocates.
public struct BranchBudget: Sendable {
    var verifyByWindow: [Double]
    var batchByRows: [Double]
    let decay = 0.8

    public init(maxWindow: Int, maxRows: Int) {
        verifyByWindow = [Double](repeating: 0, count: maxWindow + 1)
        batchByRows = [Double](repeating: 0, count: maxRows + 1)
    }

    /// The exponential mean after `new` (0: nothing seen yet).
    func blend(_ old: Double, _ new: Double) -> Double { old == 0 ? new : decay * old + (1 - decay) * new }

    /// A window of `window` tokens was published `seconds` before its verdict was posted.
    public mutating func recordVerification(window: Int, seconds: Double) {
        guard window > 0, window < verifyByWindow.count, seconds > 0 else { return }
        verifyByWindow[window] = blend(verifyByWindow[window], seconds)
    }

    /// One branch step of `rows` rows took `seconds`.
    public mutating func recordBatch(rows: Int, seconds: Double) {
        guard rows > 0, rows < batchByRows.count, seconds > 0 else { return }
        batchByRows[rows] = blend(batchByRows[rows], seconds)
    }

    /// The expected time from publishing a window of `window` tokens to its verdict; nil: unmeasured.
    public func verification(window: Int) -> Double? {
        guard window > 0, window < verifyByWindow.count, verifyByWindow[window] > 0 else { return nil }
        return verifyByWindow[window]
    }

    /// An upper bound on one forward of `rows` rows from the batches measured; nil: none measured.
    public func batch(rows: Int) -> Double? {
        guard rows > 0 else { return 0 }
        let n = batchByRows.count
        if rows < n {
            for above in rows..<n where batchByRows[above] > 0 { return batchByRows[above] }
        }
        for below in stride(from: min(rows - 1, n - 1), through: 1, by: -1) where batchByRows[below] > 0 {
            return batchByRows[below] * Double(rows) / Double(below)
        }
        return nil
    }

    /// How many of `live` rows (the first one the draft's own branch when `ownFirst`) to run in the
    /// next step, beside `extra` rows that run anyway, with `left` seconds until the verdict and
    /// `ownStepsAfter` more single-row steps the own branch needs after this one. The own branch's
    /// row always runs (it holds most verdicts); other rows only where the step and the own branch's
    /// later steps end before the verdict. No deadline (`left` nil) or no measured batch: every row.
    public func rows(live: Int, extra: Int = 0, ownFirst: Bool, ownStepsAfter: Int, left: Double?) -> Int {
        guard live > 0, let left, let one = batch(rows: 1) else { return live }
        let own = ownFirst ? 1 : 0
        let reserve = Double(ownStepsAfter) * one
        var k = live
        while k > own {
            guard let c = batch(rows: k + extra) else { return live }
            if c + reserve <= left { return k }
            k -= 1
        }
        return own
    }
}
