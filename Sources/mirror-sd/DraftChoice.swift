import Foundation
import Generation
import GGUF
import Llama
import Tokenizer

/// A draft as named on the command line: `small` / `large` (the distilled drafts shipped in
/// models/drafts), `self` (the target file on the draft backend), a GGUF path, or `lookup` (prompt
/// lookup, no model); a model draft may carry `+lookup` (lookup first, the model where lookup
/// finds no match of at least two tokens).
struct DraftChoice: Equatable, CustomStringConvertible {
    /// nil: prompt lookup alone.
    var path: String?
    var lookup: Bool
    /// The target file itself (on the draft backend).
    let isSelf: Bool

    static let shipped = ["small": "models/drafts/smollm2-135m-draft-small.q8_0.gguf",
                          "large": "models/drafts/smollm2-135m-draft-large.q8_0.gguf"]
    /// Measured best for both modes on Spec-Bench here (README, "Results"): the int8 self-draft's
    /// 4.7 tokens per step outweigh its cost; the distilled drafts reach 1.6 and win only on long
    /// prompts (summarization, RAG), where the self-draft's prefill dominates.
    static func defaultName(for mode: DecodeMode) -> String { "self" }

    init(parsing text: String, targetPath: String) throws {
        var name = text
        lookup = false
        if name.hasSuffix("+lookup") {
            name.removeLast("+lookup".count)
            lookup = true
        }
        switch name {
        case "lookup":
            guard !lookup else { throw CLIError("draft '\(text)': lookup+lookup is just 'lookup'") }
            path = nil
            lookup = true
        case "self": path = targetPath
        case "": throw CLIError("draft '\(text)' names no model")
        default: path = Self.shipped[name] ?? name
        }
        isSelf = path != nil && path == targetPath
        if let p = path, !FileManager.default.fileExists(atPath: p) {
            throw CLIError(Self.shipped[name] != nil
                ? "draft '\(name)' (\(p)) is missing from this checkout; it is committed under models/drafts"
                : "draft file '\(p)' not found")
        }
    }

    var description: String {
        guard let p = path else { return "lookup" }
        if isSelf { return "self" + (lookup ? "+lookup" : "") }
        let short = Self.shipped.first { $0.value == p }?.key ?? (p as NSString).lastPathComponent
        return short + (lookup ? "+lookup" : "")
    }
}

/// The draft model for sd/mirror on `backend`: a model file, prompt lookup, or lookup in front of a model.
/// In front of a model, lookup answers only after a match of `hybridMinN` tokens or more: a one-token
/// match is a weaker guess than the model's (measured with eval-draft, README "Drafts").
func makeDraft(_ choice: DraftChoice, backend: BackendKind, targetFile: GGUFFile, targetPath: String, vocab: Vocabulary,
               context: Int, hybridMinN: Int = 2) throws -> any TreeLanguageModel {
    guard let path = choice.path else { return LookupDraft(vocabSize: vocab.count, maxContext: context) }
    let file = path == targetPath ? targetFile : try ModelOptions(model: path).openFile()
    do { try validatePair(target: vocab, draft: Vocabulary(file: file)) } catch let e as PairError {
        throw CLIError("\(e) (target \(targetPath), draft \(path))")
    }
    let session = try LlamaModel(file: file, backend: backend.make(threads: 1)).makeSession(maxContext: context, maxBatch: 64)
    return choice.lookup ? LookupDraft(vocabSize: vocab.count, maxContext: context, minN: hybridMinN, fallback: session) : session
}
