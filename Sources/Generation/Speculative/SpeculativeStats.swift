/// Per-request figures of a speculative run.
///
/// Two conventions for "tokens per step" exist: the paper's E[A] (accepted drafts per target step)
/// and Spec-Bench's mean accepted tokens, E[A] + 1 (the target's own token counted too). Both are
/// given, named.
public struct SpeculativeStats: Sendable, Codable, Equatable {
    public var rounds = 0
    public var drafted = 0
    public var accepted = 0
    /// acceptedAt[j]: rounds whose draft token j (0-based) was accepted; draftedAt[j]: rounds that drafted it.
    public var acceptedAt: [Int] = []
    public var draftedAt: [Int] = []
    public var targetForwards = 0
    public var draftForwards = 0
    public var targetSeconds = 0.0
    public var draftSeconds = 0.0
    public var promptTokens = 0
    public var generatedTokens = 0
    public var prefillSeconds = 0.0
    public var decodeSeconds = 0.0

    public init() {}

    /// accepted / drafted.
    public var acceptanceRate: Double { drafted > 0 ? Double(accepted) / Double(drafted) : 0 }
    /// E[A]: accepted draft tokens per target verification step (the Mirror-SD paper's convention).
    public var meanAcceptedLength: Double { rounds > 0 ? Double(accepted) / Double(rounds) : 0 }
    /// E[A] + 1: tokens committed per target step (Spec-Bench's "mean accepted tokens").
    public var tokensPerTargetStep: Double { rounds > 0 ? Double(accepted + rounds) / Double(rounds) : 0 }
    public var acceptanceByPosition: [Double] {
        zip(acceptedAt, draftedAt).map { $1 > 0 ? Double($0) / Double($1) : 0 }
    }
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(generatedTokens) / decodeSeconds : 0 }

    public mutating func record(drafted n: Int, accepted a: Int) {
        rounds += 1
        drafted += n
        accepted += a
        while draftedAt.count < n { draftedAt.append(0); acceptedAt.append(0) }
        for j in 0..<n { draftedAt[j] += 1 }
        for j in 0..<a { acceptedAt[j] += 1 }
    }

    public var summary: String {
        let pos = acceptanceByPosition.map { String(format: "%.2f", $0) }.joined(separator: " ")
        return String(format: "rounds %d, drafted %d, accepted %d (%.1f %%), E[A] %.2f, tokens/target step %.2f, per position [%@], target %d forwards %.2f s, draft %d forwards %.2f s",
                      rounds, drafted, accepted, acceptanceRate * 100, meanAcceptedLength, tokensPerTargetStep, pos,
                      targetForwards, targetSeconds, draftForwards, draftSeconds)
    }
}
