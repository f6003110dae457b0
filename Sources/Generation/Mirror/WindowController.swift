import Foundation

/// Adaptive window length for Mirror-SD (`--adaptive-gamma`): each round picks the γ in 1...γmax with
/// the most expected tokens per second, from the acceptance seen so far and measured timings.
///
/// The model, in steady state with the draft's own branch overlapping verification:
///
///     tokens(γ) = (1 − α^(γ+1)) / (1 − α)              α: per-token acceptance
///     time(γ)   = max(T_v(γ), (γ + 1) · t_d) + (1 − ρ) · γ · t_d
///
/// T_v(γ) is the target's verification of γ + 1 rows: the measured mean at that many rows once seen,
/// and until then the nearest measured row count's, moved by one prefill row's cost per row of
/// difference, and never below its time per row (a straight line from one far point would send small
/// windows to zero cost). t_d is the draft's mean single-row step, as it reports it: its own branch
/// feeds the window's last token and drafts γ more while the target verifies, and after a miss
/// (1 − ρ of rounds) it drafts γ afresh.
/// The controller is a value the target worker owns; it never allocates.
public struct WindowController: Sendable {
    public let maxGamma: Int
    /// Accepted tokens and rejections, with a prior of 4 and 1 (α = 0.8 before any round).
    var accepted = 4.0, rejected = 1.0
    /// Exponential means (weight `decay` on the past) of the verification time by rows verified (0:
    /// not seen) and of whether the window was a prepared branch; the draft's step is its own mean.
    var verifyByRows: [Double]
    var draftStep = 0.0, reuse = 0.5
    var seen = false
    /// Seconds one more verified row costs (from the prefill).
    var rowCost: Double
    let decay = 0.8

    public init(maxGamma: Int, rowCost: Double) {
        self.maxGamma = maxGamma
        self.rowCost = max(0, rowCost)
        verifyByRows = [Double](repeating: 0, count: maxGamma + 2)
    }

    public var alpha: Double { accepted / (accepted + rejected) }

    /// One verified round: `drafted` tokens, `acceptedLength` of them accepted, `verifySeconds` of
    /// target work over `drafted + 1` rows; the draft's step time and whether the window was a prepared
    /// branch (nil for the first window, which is fresh by necessity, not by a miss).
    public mutating func record(drafted: Int, acceptedLength a: Int, verifySeconds: Double, draftStepSeconds: Double, reused: Bool?) {
        accepted += Double(a)
        if a < drafted { rejected += 1 }
        let r = min(drafted + 1, verifyByRows.count - 1)
        verifyByRows[r] = verifyByRows[r] == 0 ? verifySeconds : decay * verifyByRows[r] + (1 - decay) * verifySeconds
        if draftStepSeconds > 0 { draftStep = draftStepSeconds }
        if let reused { reuse = decay * reuse + (1 - decay) * (reused ? 1 : 0) }
        seen = true
    }

    /// Expected committed tokens per round at window γ.
    public func tokens(_ g: Int) -> Double {
        let a = min(alpha, 0.999)
        return (1 - pow(a, Double(g + 1))) / (1 - a)
    }

    /// Modelled seconds per round at window γ.
    public func seconds(_ g: Int) -> Double {
        var m = -1  // the measured row count nearest g + 1, the smaller on a tie
        for r in 1..<verifyByRows.count where verifyByRows[r] > 0 && (m < 0 || abs(r - g - 1) < abs(m - g - 1)) { m = r }
        // Below a measured count the time per row does not shrink (a verification has a fixed part).
        var tv = 0.0
        if m > 0 {
            tv = verifyByRows[m] + rowCost * Double(g + 1 - m)
            if g + 1 < m { tv = max(tv, verifyByRows[m] * Double(g + 1) / Double(m)) }
        }
        return max(max(tv, Double(g + 1) * draftStep) + (1 - reuse) * Double(g) * draftStep, 1e-9)
    }

    /// The window for the next round (γmax until the first round is measured).
    public var gamma: Int {
        guard seen else { return maxGamma }
        var best = maxGamma, rate = 0.0
        for g in 1...maxGamma {
            let r = tokens(g) / seconds(g)
            if r > rate * 1.0001 { best = g; rate = r }
        }
        return best
    }
}
