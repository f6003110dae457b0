import Foundation
import Generation
import LanguageModels
import GGUF
import Llama
import Tokenizer

/// A draft as named on the command line: `small` / `large` (the distilled drafts shipped in
/// models/drafts), `self` (the target file on the draft backend), a GGUF path, or `lookup` (prompt
/// lookup, no model); a model draft may carry `+lookup` (lookup first, the model where lookup
/// finds no match of at least two tokens).
public struct DraftChoice: Equatable, Sendable, CustomStringConvertible {
    /// nil: prompt lookup alone.
    public var path: String?
    public var lookup: Bool
    /// The target file itself (on the draft backend).
    public let isSelf: Bool

    public static let shipped = ["small": "models/drafts/smollm2-135m-draft-small.q8_0.gguf",
                          "large": "models/drafts/smollm2-135m-draft-large.q8_0.gguf"]
    public init(parsing text: String, targetPath: String) throws {
        var name = text
        lookup = false
        if name.hasSuffix("+lookup") {
            name.removeLast("+lookup".count)
            lookup = true
        }
        switch name {
        case "lookup":
            guard !lookup else { throw EngineError("draft '\(text)': lookup+lookup is just 'lookup'") }
            path = nil
            lookup = true
        case "self": path = targetPath
        case "": throw EngineError("draft '\(text)' names no model")
        default: path = Self.shipped[name] ?? name
        }
        isSelf = path != nil && path == targetPath
        if let p = path, !FileManager.default.fileExists(atPath: p) {
            throw EngineError(Self.shipped[name] != nil
                ? "draft '\(name)' (\(p)) is missing from this checkout; it is committed under models/drafts"
                : "draft file '\(p)' not found")
        }
    }

    public var description: String {
        guard let p = path else { return "lookup" }
        if isSelf { return "self" + (lookup ? "+lookup" : "") }
        let short = Self.shipped.first { $0.value == p }?.key ?? (p as NSString).lastPathComponent
        return short + (lookup ? "+lookup" : "")
    }
}

/// A draft ready to run: the model the decoders drive, and the Llama session inside it (itself, or
/// the model behind lookup; nil for lookup alone) for callers that profile or inspect it.
public struct Draft {
    public let choice: DraftChoice
    public let model: any TreeLanguageModel
    public let session: LlamaSession?
    /// The model's compute format (nil for lookup alone).
    public let type: BackendKind?
}

/// The draft for sd/mirror on `backend`: a model file, prompt lookup, or lookup in front of a model.
/// In front of a model, lookup answers only after a match of `hybridMinN` tokens or more: a one-token
/// match is a weaker guess than the model's (measured with eval-draft, README "Drafts").
public func makeDraft(_ choice: DraftChoice, backend: BackendKind?, targetFile: GGUFFile, targetPath: String, vocab: Vocabulary,
                      context: Int, hybridMinN: Int = 2) throws -> Draft {
    guard let path = choice.path else {
        return Draft(choice: choice, model: LookupDraft(vocabSize: vocab.count, maxContext: context), session: nil, type: nil)
    }
    let file = path == targetPath ? targetFile : try openModel(path)
    do { try validatePair(target: vocab, draft: Vocabulary(file: file)) } catch let e as PairError {
        throw EngineError("\(e) (target \(targetPath), draft \(path))")
    }
    let type = backend ?? Defaults.draftType(for: file)
    let session = try LlamaModel(file: file, backend: type.make(threads: 1)).makeSession(maxContext: context, maxBatch: 64)
    let model: any TreeLanguageModel = choice.lookup
        ? LookupDraft(vocabSize: vocab.count, maxContext: context, minN: hybridMinN, fallback: session) : session
    return Draft(choice: choice, model: model, session: session, type: type)
}
