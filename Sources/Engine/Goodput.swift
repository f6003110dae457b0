/// What a batched forward costs by its row count. The curve's shape is measured once (`calibrate`:
/// forwards of 1, 2, 3, 4, 6, 8, ... rows); its level follows the forwards actually run (one scale
/// factor, an average of measured over calibrated): attention grows with the contexts, and the machine
/// is shared. One smooth factor rather than a noisy figure per row count keeps the controller's choice
/// from flapping between neighbouring row counts.
public struct StepCost: Sendable {
    /// Calibrated seconds by row count, at the counts measured (ascending).
    public private(set) var points: [(rows: Int, seconds: Double)] = []
    public private(set) var scale = 1.0
    var observed = 0

    public init() {}

    public var isCalibrated: Bool { !points.isEmpty }

    public mutating func setCalibration(_ p: [(rows: Int, seconds: Double)]) {
        precondition(!p.isEmpty && p.allSatisfy { $0.rows >= 1 && $0.seconds > 0 })
        points = p.sorted { $0.rows < $1.rows }
        scale = 1
        observed = 0
    }

    /// Calibrated seconds of a forward of `rows`: linear between measured counts, proportional to rows
    /// past the last (pessimistic: products are at best linear there), the smallest below the first.
    public func calibrated(_ rows: Int) -> Double {
        guard let first = points.first, let last = points.last else { return Double(rows) }
        if rows <= first.rows { return first.seconds }
        if rows >= last.rows { return last.seconds * Double(rows) / Double(last.rows) }
        var i = 1
        while points[i].rows < rows { i += 1 }
        let a = points[i - 1], b = points[i]
        return a.seconds + (b.seconds - a.seconds) * Double(rows - a.rows) / Double(b.rows - a.rows)
    }

    public func estimate(_ rows: Int) -> Double { calibrated(rows) * scale }

    /// A forward of `rows` took `seconds`.
    public mutating func record(rows: Int, seconds: Double) {
        guard isCalibrated, rows >= 1, seconds > 0 else { return }
        let ratio = seconds / calibrated(rows)
        observed += 1
        // The first forwards set the level; later ones move it slowly (a preempted step is one sample).
        let w = max(0.05, 1 / Double(observed))
        scale += w * (min(ratio, 4 * scale) - scale)
    }
}

/// How far each sequence in a batch speculates this step: the goodput rule. A sequence whose draft
/// offers n tokens, each kept with its observed rate α, adds α + α² + … + αⁿ expected tokens for n rows.
/// The time those rows add to the step, cost(rows + k) − cost(rows), could instead go to plain batched
/// decoding, which yields r₀ = decode rows / cost(decode rows) tokens a second; drafted rows are taken
/// best first (the highest next α^i of any sequence) and the count kept is the one with the largest
/// surplus, expected tokens − r₀ · added time. Zero drafted rows is plain batched decoding, so a step is
/// never planned slower than that. Prompt rows in the step add cost but no token: they are work due
/// anyway, so they count only in where the added rows fall on the cost curve. Hysteresis: starting to
/// speculate must beat r₀ by `margin`; going on only needs r₀.
public struct GoodputPolicy: Sendable {
    /// Most drafted tokens of one sequence per step.
    public var maxDraft: Int
    /// A sequence's acceptance before it has drafted, and where an idle estimate drifts back to.
    public var prior: Double
    /// Weight of each new observation in a sequence's acceptance.
    public var learningRate: Double
    /// How much of the way back to the prior an estimate moves per step without drafting: a sequence
    /// that stopped because its drafts failed tries again later, when its text may repeat more.
    public var recovery: Double
    public var margin: Double

    public init(maxDraft: Int = 8, prior: Double = 0.5, learningRate: Double = 0.25, recovery: Double = 0.02, margin: Double = 0.03) {
        precondition((1...32).contains(maxDraft) && (0...1).contains(prior) && learningRate > 0 && learningRate <= 1)
        self.maxDraft = maxDraft
        self.prior = prior
        self.learningRate = learningRate
        self.recovery = recovery
        self.margin = margin
    }

    /// A sequence's acceptance after a step that drafted `drafted` tokens and kept `accepted`: each kept
    /// token is a success, the first refused one a failure, those after it unobserved.
    public func update(_ alpha: Double, drafted: Int, accepted: Int) -> Double {
        guard drafted > 0 else { return alpha + recovery * (prior - alpha) }
        var a = alpha
        for _ in 0..<accepted { a += learningRate * (1 - a) }
        if accepted < drafted { a -= learningRate * a }
        return a
    }
}

/// The state of one sequence as the goodput rule sees it.
public struct DraftOffer {
    /// Observed acceptance.
    public var alpha: Double
    /// Tokens its draft offers this step.
    public var offered: Int
    /// Rows the plan gives it (≤ offered).
    public var take = 0

    public init(alpha: Double, offered: Int) {
        self.alpha = alpha
        self.offered = offered
    }

    var nextGain: Double { take < offered ? pow(alpha, Double(take + 1)) : -1 }
}

extension GoodputPolicy {
    /// Sets `take` of each offer; returns the drafted rows in all. `decodeRows` rows decode one token
    /// each, `otherRows` (prompt chunks) cost but give no token, at most `room` rows may be drafted, and
    /// `wasSpeculating` tells whether the last step drafted (hysteresis).
    public func plan(_ offers: inout [DraftOffer], decodeRows: Int, otherRows: Int, room: Int, cost: StepCost,
                     wasSpeculating: Bool) -> Int {
        for i in offers.indices { offers[i].take = 0 }
        guard decodeRows > 0, room > 0, cost.isCalibrated else { return 0 }
        let base = decodeRows + otherRows
        let plainRate = Double(decodeRows) / cost.estimate(decodeRows)
        let rate = wasSpeculating ? plainRate : plainRate * (1 + margin)
        let baseCost = cost.estimate(base)
        // The offer with the highest next gain, or nil when none has a guess left.
        func best(_ offers: [DraftOffer]) -> (index: Int, gain: Double)? {
            var pick: (index: Int, gain: Double)? = nil
            for i in offers.indices where offers[i].nextGain > (pick?.gain ?? 0) { pick = (i, offers[i].nextGain) }
            return pick
        }
        var gained = 0.0
        var chosen = (k: 0, surplus: 0.0)
        // Pass 1: the best number of drafted rows (gains taken best first).
        for k in stride(from: 1, through: room, by: 1) {
            guard let (i, gain) = best(offers) else { break }
            offers[i].take += 1
            gained += gain
            let surplus = gained - rate * (cost.estimate(base + k) - baseCost)
            if surplus > chosen.surplus { chosen = (k, surplus) }
        }
        // Pass 2: the same picks again, up to the chosen count.
        for i in offers.indices { offers[i].take = 0 }
        for _ in 0..<chosen.k { offers[best(offers)!.index].take += 1 }
        return chosen.k
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
