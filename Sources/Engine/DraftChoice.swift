import Foundation
import Generation
import LanguageModels
import GGUF
import Llama
import Tokenizer

/// A draft as named on the command line: `small` / `large` (the distilled drafts shipped in
/// models/drafts), `self` (the target file on the draft backend), a GGUF path (a feature draft among them:
/// it reads the target's hidden states, serial decoding only), or `lookup` (prompt
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
    public let model: any LanguageModel
    public let session: LlamaSession?
    /// The model's compute format (nil for lookup alone).
    public let type: BackendKind?
    /// A feature draft (itself, or behind lookup); nil for drafts that read tokens only.
    public var featureDraft: FeatureDraft? = nil
    /// A feature draft's input: attach it to the target's session (`LlamaSession.features`) while this
    /// draft decodes.
    public var features: TargetFeatures? { featureDraft?.features }
    /// Multiply-accumulates per drafted token (nil for lookup alone).
    public var macsPerToken: Int? = nil

    /// A fresh instance of the model draft that decodes one row at a time (nil for lookup alone):
    /// what one drafted token costs, a feature draft's input projection included.
    public func singleRowInstance(maxContext: Int) -> (any LanguageModel)? {
        if let f = featureDraft {
            return FeatureDraft(weights: f.weights, features: TargetFeatures(dim: f.features.dim, capacity: maxContext), maxContext: maxContext, maxBatch: 1)
        }
        return session?.model.makeSession(maxContext: maxContext, maxBatch: 1)
    }

    /// The draft as Mirror-SD's tree model, or why it cannot be one.
    public func treeModel() throws -> any TreeLanguageModel {
        guard features == nil, let t = model as? any TreeLanguageModel else {
            throw EngineError("draft '\(choice)' reads the target's hidden states, which Mirror-SD's concurrent draft does not receive yet; use --mode sd")
        }
        return t
    }
}

/// The draft for sd/mirror on `backend`: a model file, prompt lookup, or lookup in front of a model.
/// In front of a model, lookup answers only after a match of `hybridMinN` tokens or more: a one-token
/// match is a weaker guess than the model's (measured with eval-draft, docs/modes-and-drafts.md).
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
    if FeatureDraftModel.isFeatureDraft(file) {
        let weights: FeatureDraftModel
        do { weights = try FeatureDraftModel(file: file, backend: type.make(threads: 1), targetFile: targetFile) }
        catch let e as FeatureDraftError { throw EngineError(e.description) }
        let features = TargetFeatures(dim: weights.llama.config.dim, capacity: context)
        let fd = FeatureDraft(weights: weights, features: features, maxContext: context)
        let model: any LanguageModel = choice.lookup
            ? LookupDraft(vocabSize: vocab.count, maxContext: context, minN: hybridMinN, fallback: fd) : fd
        return Draft(choice: choice, model: model, session: fd.session, type: type, featureDraft: fd, macsPerToken: weights.macsPerToken)
    }
    let llama = try LlamaModel(file: file, backend: type.make(threads: 1))
    let session = llama.makeSession(maxContext: context, maxBatch: 64)
    let model: any LanguageModel = choice.lookup
        ? LookupDraft(vocabSize: vocab.count, maxContext: context, minN: hybridMinN, fallback: session) : session
    return Draft(choice: choice, model: model, session: session, type: type, macsPerToken: llama.macsPerToken)
}
