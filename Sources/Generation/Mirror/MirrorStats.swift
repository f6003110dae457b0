/// Mirror-SD figures on top of the speculative ones.
public struct MirrorStats: Sendable, Codable, Equatable {
    public var speculative = SpeculativeStats()
    /// Rounds whose next window was a prepared branch / a fresh rollout.
    public var reused = 0
    public var fallbacks = 0
    /// Fallbacks by acceptance length A of the round that caused them.
    public var fallbacksByAcceptance: [Int] = []
    public var roundsByAcceptance: [Int] = []
    /// Rounds whose committed next token was in the early-exit top-κ at its position (Ω_κ hits).
    public var omegaHits = 0
    public var omegaRounds = 0
    /// Plain target steps taken under the F2 fallback policy, and how many of them the fresh
    /// window's first token matched.
    public var plainSteps = 0
    public var plainStepMatches = 0
    public var branchesRolled = 0
    /// Rounds in which the draft started its own bonus-guess branch before the candidates came, and
    /// rounds whose next window was that branch.
    public var ownBranches = 0
    public var ownReused = 0
    /// Runner-up branches started beside the own branch, and rounds whose next window was one.
    public var runnerUpBranches = 0
    public var runnerUpReused = 0
    /// Reuses by the reused branch's source and the verdict's slot: entry
    /// source.rawValue · (γ + 1) + accepted length.
    public var reusesBySourceAndSlot: [Int] = []
    /// Branch rows the branch budget left out because they would have run past the verdict, summed
    /// over branch steps.
    public var budgetDeclinedRows = 0
    /// With the adaptive γ: the windows' budgets summed, over `adaptiveWindows` windows.
    public var adaptiveGammaSum = 0
    public var adaptiveWindows = 0

    // Target worker times (seconds, summed over rounds).
    public var targetPrefixSeconds = 0.0   // layers 1..ℓe and the proxy head
    public var targetProxySeconds = 0.0    // of which the proxy head and its top-κ
    public var targetSuffixSeconds = 0.0   // layers ℓe+1..N, final head, verification
    public var targetWaitSeconds = 0.0     // waiting for the draft's window (draft time exposed)
    // Draft worker times.
    public var draftBranchSeconds = 0.0    // branch rollouts
    public var draftSelectSeconds = 0.0    // reuse bookkeeping or fresh rollout after the verdict
    public var draftFreshSeconds = 0.0     // of which fresh rollouts
    public var draftIdleSeconds = 0.0      // waiting for candidates or the verdict
    // Rendezvous: from posting to the other side seeing the message.
    public var rendezvousCandidatesSeconds = 0.0
    public var rendezvousVerdictSeconds = 0.0
    public var rendezvousWindowSeconds = 0.0

    public init() {}

    public var rounds: Int { speculative.rounds }
    public var reuseRate: Double { rounds > 0 ? Double(reused) / Double(rounds) : 0 }
    public var fallbackRate: Double { rounds > 0 ? Double(fallbacks) / Double(rounds) : 0 }
    public var omega: Double { omegaRounds > 0 ? Double(omegaHits) / Double(omegaRounds) : 0 }
    /// The adaptive γ's mean budget (0 with a fixed γ).
    public var meanAdaptiveGamma: Double { adaptiveWindows > 0 ? Double(adaptiveGammaSum) / Double(adaptiveWindows) : 0 }
    /// Draft work that ran while the target computed.
    public var draftHiddenSeconds: Double { max(0, draftBranchSeconds + draftSelectSeconds - targetWaitSeconds) }
    public var stepSeconds: Double { rounds > 0 ? (targetPrefixSeconds + targetSuffixSeconds + targetWaitSeconds) / Double(rounds) : 0 }

    /// MIRROR-SD.md §4 with the fallback term: T_prefix + T_rv + max(Δ, T_branches) + FF · T_fresh,
    /// where the draft's branches start with the early exit. When the draft starts its own branch with
    /// each window, its branch work overlaps the whole verification instead, while a fresh rollout
    /// still follows the verdict: T_rv + max(T_prefix + Δ, T_branches) + FF · T_fresh.
    public var predictedStepSeconds: Double {
        guard rounds > 0 else { return 0 }
        let r = Double(rounds)
        let prefix = targetPrefixSeconds / r, delta = targetSuffixSeconds / r
        let branches = draftBranchSeconds / r
        let fresh = fallbacks > 0 ? draftFreshSeconds / Double(fallbacks) : 0
        let rv = (rendezvousCandidatesSeconds + rendezvousVerdictSeconds + rendezvousWindowSeconds) / r
        if ownBranches > 0 { return rv + max(prefix + delta, branches) + fallbackRate * fresh }
        return prefix + rv + max(delta, branches) + fallbackRate * fresh
    }

    /// Sized up front for acceptance lengths 0...γ, so recording a round never allocates (which
    /// lengths occur first depends on timing; growing on first sight made allocation counts vary).
    mutating func sizeAcceptanceCounts(gamma: Int) {
        if roundsByAcceptance.count <= gamma {
            roundsByAcceptance += [Int](repeating: 0, count: gamma + 1 - roundsByAcceptance.count)
            fallbacksByAcceptance += [Int](repeating: 0, count: gamma + 1 - fallbacksByAcceptance.count)
        }
    }

    /// Sized up front, so recording never allocates.
    mutating func sizeReuseCounts(gamma: Int) {
        if reusesBySourceAndSlot.count < BranchSource.count * (gamma + 1) {
            reusesBySourceAndSlot = [Int](repeating: 0, count: BranchSource.count * (gamma + 1))
        }
    }

    mutating func recordReuse(source: BranchSource, slot: Int) {
        switch source {
        case .own: ownReused += 1
        case .runnerUp: runnerUpReused += 1
        case .earlyExit: break
        }
        let slots = reusesBySourceAndSlot.count / BranchSource.count
        if slot < slots { reusesBySourceAndSlot[source.rawValue * slots + slot] += 1 }
    }

    /// Reuses from `source` by the verdict's accepted length (0...γ).
    public func reuses(from source: BranchSource) -> [Int] {
        let slots = reusesBySourceAndSlot.count / BranchSource.count
        return Array(reusesBySourceAndSlot[(source.rawValue * slots)..<((source.rawValue + 1) * slots)])
    }

    mutating func recordRound(accepted a: Int, reused hit: Bool) {
        while roundsByAcceptance.count <= a { roundsByAcceptance.append(0); fallbacksByAcceptance.append(0) }
        roundsByAcceptance[a] += 1
        if hit { reused += 1 } else { fallbacks += 1; fallbacksByAcceptance[a] += 1 }
    }

    public var summary: String {
        let ff = zip(fallbacksByAcceptance, roundsByAcceptance).enumerated().filter { $0.element.1 > 0 }.map { "A=\($0.offset): \($0.element.0)/\($0.element.1)" }
            .joined(separator: ", ")
        return String(format: """
            reuse %.1f %% (own bonus guess %d of %d%@), fallback %.1f %% (%@), Ω_κ %.1f %%, branches %d (rows the budget declined: %d), \
            plain steps %d (%d matched); target prefix %.3f s (proxy %.3f s), suffix %.3f s, waiting %.3f s; draft branches %.3f s, after-verdict %.3f s (fresh %.3f s), idle %.3f s, \
            hidden %.3f s; rendezvous EE %.1f µs, FV %.1f µs, WIN %.1f µs per round; step %.2f ms measured, %.2f ms predicted%@
            """,
            reuseRate * 100, ownReused, ownBranches, runnerUpBranches > 0 ? ", runner-ups \(runnerUpReused) of \(runnerUpBranches)" : "", fallbackRate * 100, ff, omega * 100, branchesRolled, budgetDeclinedRows,
            plainSteps, plainStepMatches, targetPrefixSeconds, targetProxySeconds, targetSuffixSeconds, targetWaitSeconds, draftBranchSeconds, draftSelectSeconds, draftFreshSeconds,
            draftIdleSeconds, draftHiddenSeconds,
            rounds > 0 ? rendezvousCandidatesSeconds / Double(rounds) * 1e6 : 0, rounds > 0 ? rendezvousVerdictSeconds / Double(rounds) * 1e6 : 0,
            rounds > 0 ? rendezvousWindowSeconds / Double(rounds) * 1e6 : 0, stepSeconds * 1e3, predictedStepSeconds * 1e3,
            adaptiveWindows > 0 ? String(format: "; adaptive γ mean %.2f", meanAdaptiveGamma) : "")
    }
}

/// Where a prepared branch's first token came from.
public enum BranchSource: Int, Sendable, CaseIterable, Codable {
    /// The draft's own bonus guess after the whole window.
    case own
    /// The draft's second choice at a slot of the window, or at the bonus slot.
    case runnerUp
    /// The target's early-exit top-κ.
    case earlyExit

    public var name: String { ["own", "runner_up", "early_exit"][rawValue] }
    /// allCases.count without building the array (recordReuse runs every round).
    static let count = 3
}
