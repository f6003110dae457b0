import Generation

/// Statistics as `Codable` values with snake_case keys (encode with `.convertToSnakeCase`): the CLI's
/// `--json`, and the `mirror_sd` object of the server's responses and its metrics.
public struct SpeculativeReport: Codable, Sendable, Equatable {
    public var rounds, drafted, accepted: Int
    public var acceptanceRate, meanAcceptedLength, tokensPerTargetStep: Double
    public var acceptanceByPosition: [Double]
    public var targetForwards, draftForwards: Int
    public var targetSeconds, draftSeconds: Double

    public init(_ s: SpeculativeStats) {
        rounds = s.rounds; drafted = s.drafted; accepted = s.accepted
        acceptanceRate = s.acceptanceRate; meanAcceptedLength = s.meanAcceptedLength
        tokensPerTargetStep = s.tokensPerTargetStep; acceptanceByPosition = s.acceptanceByPosition
        targetForwards = s.targetForwards; draftForwards = s.draftForwards
        targetSeconds = s.targetSeconds; draftSeconds = s.draftSeconds
    }
}

public struct MirrorReport: Codable, Sendable, Equatable {
    public var gamma, kappa, exitLayer: Int
    public var fallback: String
    public var reuseRate, fallbackRate, omegaKappa: Double
    public var fallbacksByAcceptance, roundsByAcceptance: [Int]
    public var plainSteps, branches: Int
    public var ownBranches, ownReused: Int
    public var runnerUpBranches, runnerUpReused: Int
    /// Branch rows the timing budget left out (they would have run past the verdict), over steps.
    public var budgetDeclinedRows: Int
    /// Reuses by source (own, runner_up, early_exit), each by the verdict's accepted length 0...γ.
    public var reusesByAcceptance: [String: [Int]]
    public var targetPrefixSeconds, targetProxySeconds, targetSuffixSeconds, targetWaitSeconds: Double
    public var draftBranchSeconds, draftSelectSeconds, draftIdleSeconds, draftHiddenSeconds: Double
    public var stepMs, predictedStepMs: Double
    /// The adaptive γ's mean window budget; nil with a fixed γ.
    public var adaptiveGammaMean: Double?

    public init(_ m: MirrorStats, options o: MirrorOptions) {
        gamma = o.gamma; kappa = o.kappa; exitLayer = o.exitLayer; fallback = o.fallback.rawValue
        reuseRate = m.reuseRate; fallbackRate = m.fallbackRate; omegaKappa = m.omega
        fallbacksByAcceptance = m.fallbacksByAcceptance; roundsByAcceptance = m.roundsByAcceptance
        plainSteps = m.plainSteps; branches = m.branchesRolled
        ownBranches = m.ownBranches; ownReused = m.ownReused
        runnerUpBranches = m.runnerUpBranches; runnerUpReused = m.runnerUpReused
        budgetDeclinedRows = m.budgetDeclinedRows
        reusesByAcceptance = Dictionary(uniqueKeysWithValues: BranchSource.allCases.map { ($0.name, m.reuses(from: $0)) })
        targetPrefixSeconds = m.targetPrefixSeconds; targetProxySeconds = m.targetProxySeconds; targetSuffixSeconds = m.targetSuffixSeconds
        targetWaitSeconds = m.targetWaitSeconds; draftBranchSeconds = m.draftBranchSeconds
        draftSelectSeconds = m.draftSelectSeconds; draftIdleSeconds = m.draftIdleSeconds
        draftHiddenSeconds = m.draftHiddenSeconds; stepMs = m.stepSeconds * 1e3; predictedStepMs = m.predictedStepSeconds * 1e3
        adaptiveGammaMean = o.adaptiveGamma ? m.meanAdaptiveGamma : nil
    }
}

/// One generation's figures.
public struct DecodeReport: Codable, Sendable, Equatable {
    public var promptTokens: Int
    public var prefillSeconds, prefillTokensPerSecond: Double
    public var generatedTokens: Int
    public var decodeSeconds, decodeTokensPerSecond: Double
    public var speculative: SpeculativeReport?
    public var mirror: MirrorReport?

    public init(_ s: DecodeStats, mirrorOptions: MirrorOptions?) {
        let g = s.generation
        promptTokens = g.promptTokens; prefillSeconds = g.prefillSeconds; prefillTokensPerSecond = g.prefillTokensPerSecond
        generatedTokens = g.generatedTokens; decodeSeconds = g.decodeSeconds; decodeTokensPerSecond = g.decodeTokensPerSecond
        speculative = s.speculative.map(SpeculativeReport.init)
        if let m = s.mirror, let o = mirrorOptions { mirror = MirrorReport(m, options: o) }
    }
}
