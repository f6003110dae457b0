import ArgumentParser
import Foundation
import GGUF
import TensorCore

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Rewrite a GGUF with its weight matrices in Q8_0, keeping all metadata (tokenizer included).",
        discussion: """
            Every 2-D tensor whose rows are a multiple of 32 becomes Q8_0 (ggml's reference quantizer); \
            vectors such as norms stay F32. general.file_type is set to 7 (MOSTLY_Q8_0).
            """)

    @Argument(help: "Input GGUF.") var input: String
    @Argument(help: "Output GGUF.") var output: String
    @Option(help: "Target type (only q8_0).") var type: String = "q8_0"
    @Flag(help: "Overwrite the output if it exists.") var force = false

    func validate() throws {
        guard type.lowercased() == "q8_0" else { throw ValidationError("--type must be q8_0 (the only type this engine writes)") }
        guard input != output else { throw ValidationError("input and output must differ") }
    }

    func run() throws {
        if FileManager.default.fileExists(atPath: output) && !force {
            throw CLIError("'\(output)' exists (use --force to overwrite)")
        }
        let f = try GGUFFile(path: input)
        var w = GGUFWriter()
        for k in f.keys { w.set(k, f.metadata[k]!) }
        w.set("general.file_type", .uint32(7))
        var quantized = 0
        for (i, t) in f.tensors.enumerated() {
            let bytes = f.bytes(of: t)
            let isMatrix = t.dims.count >= 2 && t.dims[0] % 32 == 0 && t.dims[1...].contains { $0 > 1 }
            if isMatrix && t.type != .q8_0 {
                let floats = try Dequantize.toFloatBuffer(t, bytes: bytes)
                w.addTensor(name: t.name, dims: t.dims, type: .q8_0,
                            data: Dequantize.quantizeQ8_0(UnsafeBufferPointer(floats.buffer)))
                quantized += 1
            } else {
                w.addTensor(name: t.name, dims: t.dims, type: t.type, data: Array(bytes))
            }
            if (i + 1) % 50 == 0 { note("  \(i + 1)/\(f.tensors.count) tensors") }
        }
        try w.write(to: output)
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        print("wrote \(output): \(f.tensors.count) tensors (\(quantized) quantized to Q8_0), \(f.keys.count) metadata keys, \(size) bytes")
    }
}
