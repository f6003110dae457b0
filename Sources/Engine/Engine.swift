import Foundation
import Generation
import GGUF
import LanguageModels
import Llama
import TensorCore
import Tokenizer

public struct EngineConfiguration: Sendable {
    public var modelPath = Defaults.modelPath
    public var targetType: BackendKind = .f32
    /// Threads of the target's products.
    public var threads = 1
    /// nil: the model's own context, at most `Defaults.contextCap`.
    public var context: Int? = nil
    /// KV caches of the context's length to plan memory for: 1 for the target alone, 2 with a draft.
    public var sessions = 2
    /// nil: `Defaults.draftType` for the draft file.
    public var draftType: BackendKind? = nil
    /// How the target's KV caches store keys and values (drafts keep fp32).
    public var kvCache: KVFormat = .f32
    public init() {}
}

/// A decoder with the options it was built with, for reports.
public struct PreparedDecoder {
    public let decoder: any TokenDecoder
    public let mode: DecodeMode
    public let draft: Draft?
    public let speculative: SpeculativeOptions?
    public let mirror: MirrorOptions?
    /// Mirror: the exit lens file the proxy applies, or nil (the raw logit lens).
    public var exitLens: String? = nil
    /// The compute format of the model draft, or nil.
    public var draftType: String? { draft?.type?.rawValue }
}

/// One target in memory with its tokenizer and KV session, the drafts it has used (loaded once,
/// by name), and the wiring from a `DecoderSpec` to a decoder. The CLI's commands and the server
/// both stand on it. Not thread-safe: one caller at a time (the server serializes requests).
public final class Engine {
    public let configuration: EngineConfiguration
    public let file: GGUFFile
    public let tokenizer: Tokenizer
    public let model: LlamaModel
    public let target: LlamaSession
    public let context: Int
    public let loadSeconds: Double
    private var drafts: [String: Draft] = [:]
    private var lenses: [String: (lens: ExitLens, path: String)?] = [:]
    /// The one-slot batch `ar --lookup` decodes through (its own KV cache), made by the first such
    /// `decoder` call (tests set its step cost, so the goodput rule's choices do not depend on the machine's timing).
    public private(set) var lookupBatch: BatchDecoder?

    public init(_ configuration: EngineConfiguration) throws {
        let t0 = WallClock.now()
        self.configuration = configuration
        try Limits.threads(configuration.threads)
        file = try openModel(configuration.modelPath)
        tokenizer = try Tokenizer(file: file)
        model = try LlamaModel(file: file, backend: configuration.targetType.make(threads: configuration.threads),
                               kvFormat: configuration.kvCache)
        context = try Limits.context(configuration.context, config: model.config, sessions: configuration.sessions,
                                     kvFormat: configuration.kvCache, defaultCap: Defaults.contextCap)
        target = model.makeSession(maxContext: context, maxBatch: 64)
        loadSeconds = WallClock.now() - t0
    }

    public var modelName: String { (configuration.modelPath as NSString).lastPathComponent }

    /// The draft named `name` (see `DraftChoice`), loaded on first use and kept.
    public func draft(_ name: String, hybridMinN: Int = 2) throws -> Draft {
        let choice = try DraftChoice(parsing: name, targetPath: configuration.modelPath)
        if let d = drafts[choice.description] { return d }
        let d = try makeDraft(choice, backend: configuration.draftType, targetFile: file, targetPath: configuration.modelPath,
                              vocab: tokenizer.vocab, context: context, hybridMinN: hybridMinN)
        drafts[choice.description] = d
        return d
    }

    /// The draft for `spec` (nil for ar) and the decoder. `spec` is checked against this target here,
    /// once; its knobs were checked when they were set.
    public func decoder(_ spec: DecoderSpec) throws -> PreparedDecoder {
        do { try spec.check(layers: model.config.layers) } catch { throw EngineError(error.cli) }
        target.features = nil
        guard spec.mode != .ar else {
            guard spec.lookup else {
                return PreparedDecoder(decoder: Generator(model: target, tokenizer: tokenizer), mode: .ar, draft: nil, speculative: nil, mirror: nil)
            }
            if lookupBatch == nil {
                lookupBatch = BatchDecoder(model: model, tokenizer: tokenizer, slots: 1, context: context, draft: .lookup)
            }
            return PreparedDecoder(decoder: LookupDecoder(batch: lookupBatch!), mode: .ar, draft: nil, speculative: nil, mirror: nil)
        }
        let d = try draft(spec.draftName)
        let so = SpeculativeOptions(gamma: spec.gamma, draftMin: spec.draftMin, draftPMin: spec.draftPMin ?? Defaults.draftPMin(for: d.choice))
        if spec.mode == .sd {
            // A feature draft reads what the target's session records; other decoders do not record.
            target.features = d.features
            let dec = SpeculativeDecoding(SerialSpeculativeDecoder(target: target, draft: d.model, tokenizer: tokenizer), options: so)
            return PreparedDecoder(decoder: dec, mode: .sd, draft: d, speculative: so, mirror: nil)
        }
        let tree = try d.treeModel()
        let mo = Self.mirrorOptions(spec, speculative: so, layers: model.config.layers, draft: d.choice)
        let lens = try exitLens(spec.exitLens, layer: mo.exitLayer)
        target.exitLens = lens?.lens
        let dec = MirrorDecoding(MirrorDecoder(target: target, draft: tree, tokenizer: tokenizer), options: mo)
        var p = PreparedDecoder(decoder: dec, mode: .mirror, draft: d, speculative: so, mirror: mo)
        p.exitLens = lens?.path
        return p
    }

    /// The exit lens `name` asks for at `layer` (see `DecoderSpec.exitLens`), loaded once and kept.
    public func exitLens(_ name: String, layer: Int) throws -> (lens: ExitLens, path: String)? {
        let key = "\(name)#\(layer)"
        if let l = lenses[key] { return l }
        let l = try Self.exitLens(name, layer: layer, model: model)
        lenses[key] = .some(l)
        return l
    }

    /// Resolves an exit-lens name for `model` at `layer`: "auto" takes the first shipped lens made
    /// for this target that has the layer (none is fine), a path must fit or it is an error.
    public static func exitLens(_ name: String?, layer: Int, model: LlamaModel) throws -> (lens: ExitLens, path: String)? {
        let auto = name == nil || name == "auto"
        if name == "none" { return nil }
        let paths = auto ? shippedLenses() : [name!]
        if !auto, !FileManager.default.fileExists(atPath: name!) { throw EngineError("exit-lens file '\(name!)' not found") }
        for path in paths {
            do {
                return (try ExitLens(file: try GGUFFile(path: path), layer: layer, model: model), path)
            } catch let e as LensError {
                // Automatic choice: a lens for another model or layer is simply not this one's.
                if auto { continue }
                throw EngineError(e.description)
            } catch {
                throw EngineError("exit-lens file '\(path)': \(error)")
            }
        }
        return nil
    }

    /// The lens files shipped beside the models, by name.
    static func shippedLenses() -> [String] {
        let dir = Defaults.lensDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasSuffix(".gguf") }.sorted().map { dir + "/" + $0 }
    }

    /// Mirror options from a checked spec, with the measured defaults where it leaves a knob unset.
    static func mirrorOptions(_ spec: DecoderSpec, speculative so: SpeculativeOptions, layers: Int, draft: DraftChoice?) -> MirrorOptions {
        var o = MirrorOptions(gamma: so.gamma, kappa: spec.kappa ?? Defaults.kappa(for: draft), exitLayer: spec.exitLayer ?? Defaults.exitLayer(layers: layers),
                              branchPositions: spec.branchPositions, fallback: spec.fallback, pinThreads: spec.pinThreads)
        o.draftPMin = so.draftPMin
        o.cpus = Defaults.workerCPUs
        o.branchFromEnd = spec.branchFromEnd
        o.draftBonus = spec.draftBonus
        o.runnerUps = spec.runnerUps ?? Defaults.runnerUps
        o.adaptiveGamma = spec.adaptiveGamma
        o.branchBudget = spec.branchBudget
        o.proxyVocab = spec.proxyVocab > 0 ? spec.proxyVocab : nil
        return o
    }

    /// Token ids of a chat in the model's template, ending with the assistant's turn opened.
    public func chatPrompt(_ messages: [ChatTemplate.Message], useDefaultSystem: Bool = true) throws -> [Int32] {
        let template = try ChatTemplate(template: tokenizer.vocab.chatTemplate)
        return template.encode(messages, with: tokenizer, useDefaultSystem: useDefaultSystem)
    }

    /// Refuses a prompt that leaves no room to generate.
    public func checkPrompt(_ prompt: [Int32]) throws {
        guard !prompt.isEmpty else { throw EngineError("the prompt is empty") }
        guard prompt.count < context else {
            throw EngineError("the prompt has \(prompt.count) tokens but the context holds \(context) (raise --ctx or shorten the prompt)")
        }
    }
}
