import ArgumentParser
import Engine
import Foundation
import GGUF
import Generation

struct ModelOptions: ParsableArguments {
    static let defaultModel = Defaults.modelPath

    @Option(name: [.short, .long], help: "Path to a GGUF model file.")
    var model: String = ModelOptions.defaultModel

    init() {}
    init(model: String) { self.model = model }

    func openFile() throws -> GGUFFile { try openModel(model) }
}

extension BackendKind: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

extension DecodeMode: ExpressibleByArgument {}
extension FallbackPolicy: ExpressibleByArgument {}

typealias CLIError = EngineError

/// Progress and diagnostics go to stderr so stdout stays clean for results.
func note(_ s: String) {
    FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
}
