import ArgumentParser
import GGUF
import Engine

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a GGUF file's metadata, tensor table and parameter count (and a Llama model's fingerprint, which exit lenses name).")

    @Argument(help: "The GGUF file.")
    var file: String

    @Option(help: "Array items shown before summarizing.")
    var maxItems: Int = 8

    func run() throws {
        let f = try GGUFFile(path: file)
        print("file: \(file)")
        print("GGUF version \(f.version), \(f.fileSize) bytes, alignment \(f.alignment), data at byte \(f.dataOffset)")
        print("\nmetadata (\(f.keys.count) keys):")
        let width = f.keys.map(\.count).max() ?? 0
        for k in f.keys {
            let v = f.metadata[k]!
            print("  \(k.padding(to: width)) \(String(describing: v.type).padding(to: 7)) \(v.summary(maxItems: maxItems))")
        }
        print("\ntensors (\(f.tensors.count)):")
        let nameWidth = f.tensors.map(\.name.count).max() ?? 0
        print("  \("name".padding(to: nameWidth))  type  \("shape (ggml order)".padding(to: 20)) bytes")
        for t in f.tensors {
            let shape = "[" + t.dims.map(String.init).joined(separator: ", ") + "]"
            print("  \(t.name.padding(to: nameWidth))  \(t.type.name.padding(to: 5)) \(shape.padding(to: 20)) \(t.byteCount)")
        }
        let params = f.parameterCount
        print("\nparameters: \(params) (\(String(format: "%.1f", Double(params) / 1e6)) M)")
        // Llama models: what an exit lens made for this model records (tools/lens/README.md).
        if let fp = Engine.fingerprint(of: f) {
            print("fingerprint: \(fp)")
        }
    }
}

extension String {
    func padding(to n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
