import Foundation
import Generation

/// What `generate` reports: the statistics line on stderr, or one JSON object.
struct RunReport {
    let mode: String
    let backend: String
    let threads: Int
    let loadSeconds: Double
    let promptTokens: Int
    let context: Int
    var draftBackend: String? = nil
    var draft: String? = nil
    var tokens: [Int32] = []
    var text = ""
    var stop = StopReason.maxTokens
    var prefillSeconds = 0.0
    var decodeSeconds = 0.0
    var speculative: SpeculativeStats? = nil
    var mirror: MirrorStats? = nil
    var mirrorOptions: MirrorOptions? = nil

    mutating func fill(tokens: [Int32], text: String, stop: StopReason, prefill: Double, decode: Double) {
        self.tokens = tokens
        self.text = text
        self.stop = stop
        prefillSeconds = prefill
        decodeSeconds = decode
    }

    var prefillRate: Double { prefillSeconds > 0 ? Double(promptTokens) / prefillSeconds : 0 }
    var decodeRate: Double { decodeSeconds > 0 ? Double(tokens.count) / decodeSeconds : 0 }

    func printSummary() {
        if stop == .contextFull { note("[stopped: the context of \(context) tokens is full]") }
        var line = String(format: "[%@ | prompt %d tokens, prefill %.1f tok/s | generated %d tokens, %.1f tok/s | load %.2f s | stop: %@ | target %@, %d thread(s)",
                          mode, promptTokens, prefillRate, tokens.count, decodeRate, loadSeconds, stop.rawValue, backend, threads)
        if let d = draftBackend { line += ", draft \(draft.map { "\($0) on " } ?? "")\(d)" }
        note(line + "]")
        if let s = speculative { note("[" + s.summary + "]") }
        if let m = mirror, let o = mirrorOptions {
            note("[mirror γ=\(o.gamma) κ=\(o.kappa) ℓe=\(o.exitLayer) fallback \(o.fallback.rawValue): " + m.summary + "]")
        }
    }

    func json() throws -> String {
        var stats: [String: Any] = [
            "load_seconds": loadSeconds, "prompt_tokens": promptTokens, "prefill_seconds": prefillSeconds,
            "prefill_tokens_per_second": prefillRate, "generated_tokens": tokens.count, "decode_seconds": decodeSeconds,
            "decode_tokens_per_second": decodeRate,
        ]
        if let s = speculative {
            stats["speculative"] = [
                "rounds": s.rounds, "drafted": s.drafted, "accepted": s.accepted, "acceptance_rate": s.acceptanceRate,
                "mean_accepted_length": s.meanAcceptedLength, "tokens_per_target_step": s.tokensPerTargetStep,
                "acceptance_by_position": s.acceptanceByPosition, "target_forwards": s.targetForwards,
                "draft_forwards": s.draftForwards, "target_seconds": s.targetSeconds, "draft_seconds": s.draftSeconds,
            ] as [String: Any]
        }
        if let m = mirror, let o = mirrorOptions {
            stats["mirror"] = [
                "gamma": o.gamma, "kappa": o.kappa, "exit_layer": o.exitLayer, "fallback": o.fallback.rawValue,
                "reuse_rate": m.reuseRate, "fallback_rate": m.fallbackRate, "omega_kappa": m.omega,
                "fallbacks_by_acceptance": m.fallbacksByAcceptance, "rounds_by_acceptance": m.roundsByAcceptance,
                "plain_steps": m.plainSteps, "branches": m.branchesRolled,
                "target_prefix_seconds": m.targetPrefixSeconds, "target_suffix_seconds": m.targetSuffixSeconds,
                "target_wait_seconds": m.targetWaitSeconds, "draft_branch_seconds": m.draftBranchSeconds,
                "draft_select_seconds": m.draftSelectSeconds, "draft_idle_seconds": m.draftIdleSeconds,
                "draft_hidden_seconds": m.draftHiddenSeconds, "step_ms": m.stepSeconds * 1e3,
                "predicted_step_ms": m.predictedStepSeconds * 1e3,
            ] as [String: Any]
        }
        var obj: [String: Any] = [
            "text": text, "tokens": tokens.map(Int.init), "prompt_tokens": promptTokens, "stop_reason": stop.rawValue,
            "mode": mode, "backend": backend, "threads": threads, "stats": stats,
        ]
        if let d = draftBackend { obj["draft_backend"] = d }
        if let d = draft { obj["draft"] = d }
        return String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self)
    }
}
