import Generation

/// How to decode: the mode, and for sd/mirror the draft, the window and Mirror-SD's scheduling.
/// The fields are set only through `Knobs`, each within its range, and `check` validates their
/// relations, so the decoder options the engine builds from it need no further checks. nil fields
/// take the measured defaults (`Defaults`).
public struct DecoderSpec: Sendable, Equatable {
    public internal(set) var mode: DecodeMode = .ar
    /// A draft name (small, large, self, lookup, a path, NAME+lookup); nil: the default.
    public internal(set) var draft: String? = nil
    /// Prompt lookup in front of the model draft; in ar, prompt lookup's guesses fed where they pay.
    public internal(set) var lookup = false
    public internal(set) var gamma = Defaults.gamma
    public internal(set) var draftMin = 0
    /// nil: `Defaults.draftPMin` for the draft.
    public internal(set) var draftPMin: Float? = nil
    /// nil: `Defaults.kappa` for the draft.
    public internal(set) var kappa: Int? = nil
    /// nil: `Defaults.exitLayer` for the target.
    public internal(set) var exitLayer: Int? = nil
    public internal(set) var branchPositions: Int? = nil
    public internal(set) var branchFromEnd = false
    public internal(set) var fallback: FallbackPolicy = .wait
    public internal(set) var pinThreads = true
    /// 0: the proxy covers the whole vocabulary.
    public internal(set) var proxyVocab = Defaults.proxyVocab
    public internal(set) var draftBonus = true
    /// nil: `Defaults.runnerUps`.
    public internal(set) var runnerUps: Int? = nil
    public internal(set) var adaptiveGamma = false
    public internal(set) var branchBudget = true
    /// "auto", "none" or a lens file (see the exit-lens knob).
    public internal(set) var exitLens = "auto"

    public init(mode: DecodeMode = .ar) { self.mode = mode }

    /// The draft's name: the draft knob (or the default), with lookup in front when asked.
    public var draftName: String {
        let name = draft ?? Defaults.draftName
        return lookup && !name.hasSuffix("+lookup") && name != "lookup" ? name + "+lookup" : name
    }

    /// The knobs' relations to each other and to a target of `layers` layers.
    public func check(layers: Int) throws(KnobError) {
        if lookup, mode != .ar, draft == "lookup" { throw KnobError("lookup", "adds lookup in front of a model draft; the draft 'lookup' is lookup alone") }
        if mode == .mirror, gamma > 16 { throw KnobError("gamma", "must be in 1...16 for mirror, got \(gamma)") }
        if draftMin > gamma { throw KnobError("draft-min", "must be at most gamma (\(gamma)), got \(draftMin)") }
        if let r = runnerUps, r > gamma + 1 { throw KnobError("runner-ups", "must be in 0...gamma+1 (\(gamma + 1)), got \(r)") }
        if let b = branchPositions, b > gamma + 1 { throw KnobError("branch-positions", "must be in 1...gamma+1 (\(gamma + 1)), got \(b)") }
        if let e = exitLayer, e >= layers { throw KnobError("exit-layer", "must be below the target's \(layers) layers, got \(e)") }
    }

    /// This spec with `inputs` applied over it, checked whole: the one way a request or a method changes a spec.
    public func with(_ inputs: [(String, KnobInput)], layers: Int, request: Bool = false) throws(KnobError) -> DecoderSpec {
        var s = self
        for (name, value) in inputs { try Knobs.set(name, value, in: &s, request: request) }
        try s.check(layers: layers)
        return s
    }
}
