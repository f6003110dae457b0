import GGUF
import Llama
import TensorCore

// The model types the engine hands out, under the names its callers use. The CLI and the server
// load models only through `Engine` and never import an architecture's module; a second
// architecture changes these lines, not the commands.
public typealias TargetModel = LlamaModel
public typealias TargetSession = LlamaSession
public typealias ModelConfig = LlamaConfig
public typealias OpProfile = Llama.OpProfile
public typealias ExitLens = Llama.ExitLens

extension Engine {
    /// A model file's weights on `type`, for commands that build sessions of their own shapes (their
    /// KV caches in `kvCache`).
    public static func loadModel(_ file: GGUFFile, type: BackendKind, threads: Int = 1, kvCache: KVFormat = .f32) throws -> TargetModel {
        try Limits.threads(threads)
        return try LlamaModel(file: file, backend: type.make(threads: threads), kvFormat: kvCache)
    }

    /// The exit lens at `layer` of a lens file, checked against `model`.
    public static func exitLens(file: GGUFFile, layer: Int, model: TargetModel) throws -> ExitLens {
        do { return try ExitLens(file: file, layer: layer, model: model) } catch let e as LensError { throw EngineError(e.description) }
    }

    /// The fingerprint an exit lens records of the model it was trained for (nil: not a model this engine runs).
    public static func fingerprint(of file: GGUFFile) -> String? {
        guard (try? file.string("general.architecture")) == "llama" else { return nil }
        return try? LlamaModel.fingerprint(of: file)
    }
}
