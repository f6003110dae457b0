import TensorCore

/// What the target does when the verdict's correction was not among the prepared branches.
public enum FallbackPolicy: String, Sendable, CaseIterable, Codable {
    /// F1: wait for the draft's fresh rollout.
    case wait
    /// F2: take one plain target step while the draft rolls out afresh; the step's token then
    /// checks the fresh window's first token.
    case plainStep = "step"
}

public struct MirrorOptions: Sendable {
    public var gamma: Int
    /// Candidates per verified position sent on the token channel (0: no early exit; every step
    /// falls back, which isolates the channel's value).
    public var kappa: Int
    /// The target layer after which the proxy distribution is read (1 ..< layers).
    public var exitLayer: Int
    /// Verified positions that get branches; nil: all γ + 1.
    public var branchPositions: Int?
    /// Count those positions from the end (the bonus slot after a fully accepted window first)
    /// instead of from the start: with an accurate draft most verdicts land at the end.
    public var branchFromEnd = false
    public var fallback: FallbackPolicy
    /// Pin the target thread to `cpus.target` and the draft thread to `cpus.draft` when the machine has both.
    public var pinThreads: Bool
    public var cpus: (target: Int, draft: Int) = (0, 1)
    /// A rollout (fresh or branch) stops where the draft's top probability falls below this.
    public var draftPMin: Float = 0
    /// The early-exit proxy covers the first `proxyVocab` token ids only (nil: the whole vocabulary).
    public var proxyVocab: Int? = nil
    /// The draft starts its own branch (whole window accepted, its own bonus guess) as soon as it
    /// publishes a window, without waiting for the early exit.
    public var draftBonus = true
    /// Branches from the draft's own runner-ups, started with its own branch: at each slot j of the
    /// window its second choice (the correction if the target rejects w_j there), and at the bonus
    /// slot its second guess. The slots are ranked by how often verdicts landed on them so far.
    public var runnerUps = 0
    /// Choose each round's window in 1...gamma from the acceptance and timings measured so far
    /// (`WindowController`); false: every window is gamma long (less where the draft is unconfident).
    public var adaptiveGamma = false
    /// The draft takes a branch step beyond its own branch only when its measured timings say the
    /// step ends before the verdict (`BranchBudget`); false: it rolls every branch until the verdict.
    public var branchBudget = true

    /// The values are the caller's to check (the engine's knob table does); out-of-range ones are a
    /// programming error.
    public init(gamma: Int = 4, kappa: Int = 2, exitLayer: Int, branchPositions: Int? = nil,
                fallback: FallbackPolicy = .wait, pinThreads: Bool = true) {
        precondition((1...16).contains(gamma) && (0...16).contains(kappa) && exitLayer >= 1, "Mirror options out of range")
        precondition(branchPositions.map { (1...(gamma + 1)).contains($0) } ?? true, "branch positions out of range")
        self.gamma = gamma
        self.kappa = kappa
        self.exitLayer = exitLayer
        self.branchPositions = branchPositions
        self.fallback = fallback
        self.pinThreads = pinThreads
    }

    /// The CPUs the two workers pin themselves to, or nil (pinning off, or the machine lacks one of them).
    public var pinnedCPUs: (target: Int, draft: Int)? {
        pinThreads && max(cpus.target, cpus.draft) < Ops.onlineCPUs ? cpus : nil
    }

    /// Early-exit branches prepared per step at most.
    var maxBranches: Int { kappa * (branchPositions ?? (gamma + 1)) }
}
