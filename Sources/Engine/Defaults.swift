import Foundation
import GGUF

/// The measured defaults, each with where it was measured, so the CLI and the server agree.
public enum Defaults {
    public static let modelPath = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    /// Trained exit lenses (tools/lens); `--exit-lens auto` picks the one made for the target.
    public static let lensDirectory = "models/lenses"
    /// Measured best for both modes on Spec-Bench here (docs/mirror-sd.md, "Results"): the int8 self-draft's
    /// 4.7 tokens per step outweigh its cost; the distilled drafts reach 1.6 and win only on long
    /// prompts (summarization, RAG), where the self-draft's prefill dominates.
    public static let draftName = "self"
    /// The confidence gate, measured with eval-draft/bench: it keeps a weak draft from filling every
    /// window with rows the target then rejects, while the target's own int8 copy is right often
    /// enough that gating only shortens its windows.
    public static func draftPMin(for choice: DraftChoice?) -> Float { choice?.isSelf == true ? 0 : 0.5 }
    /// The early-exit layer, measured on SmolLM2 (30 layers) with the shipped exit lens (docs/exit-lenses.md, "Exit
    /// lenses"): Spec-Bench speed is flat over 15…26 within noise, while Ω and reuse grow with depth.
    public static func exitLayer(layers: Int) -> Int { max(1, layers * 26 / 30) }
    /// The proxy head covers the first 8192 ids: faster than the whole 49,152 on SmolLM2 (Spec-Bench
    /// sweep in docs/mirror-sd.md).
    public static let proxyVocab = 8192
    public static let gamma = 4
    /// A model draft computes in its file's own formats when they are all 4- or 8-bit (W4A8/W8A8 on
    /// the int8 backend: on the Q4_1 SmolLM2 self-draft 2.95× ar on Spec-Bench against 2.28× when
    /// requantized to Q8_0, docs/mirror-sd.md), and in Q8_0 otherwise (never fp32).
    public static func draftType(for file: GGUFFile) -> BackendKind {
        let matrices = file.tensors.filter { $0.dims.count == 2 }
        let quantized: Set<GGMLType> = [.q4_0, .q4_1, .q8_0]
        return !matrices.isEmpty && matrices.allSatisfy { quantized.contains($0.type) } ? .native : .q8_0
    }
    /// Early-exit candidates per verified position: none behind the self-draft, whose own bonus-guess
    /// branch holds the verdict 85 % of the time while early-exit branches (Ω_2 ≈ 26 %) cost draft
    /// time the target then waits for (Spec-Bench, docs/mirror-sd.md: 2.28× ar at κ = 0
    /// against 1.78× at κ = 2); 2 behind the weaker distilled drafts and lookup.
    public static func kappa(for choice: DraftChoice?) -> Int { choice?.isSelf == true && choice?.lookup == false ? 0 : 2 }
    /// Runner-up branches beside the draft's own branch (docs/mirror-sd.md).
    public static let runnerUps = 0
    /// Mirror-SD's workers: the target on the first CPU, the draft on the second.
    public static let workerCPUs = (target: 0, draft: 1)
    /// The context when none is asked: the model's own, at most this.
    public static let contextCap = 4096
}

/// Opens a GGUF model file, with the fetch command when the default model is missing.
public func openModel(_ path: String) throws -> GGUFFile {
    guard FileManager.default.fileExists(atPath: path) else {
        if path == Defaults.modelPath { throw EngineError("model file '\(path)' not found; fetch it with: ./models/fetch.sh") }
        throw EngineError("model file '\(path)' not found")
    }
    return try GGUFFile(path: path)
}
