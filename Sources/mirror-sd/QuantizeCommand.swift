import ArgumentParser
import Engine
import Foundation
import GGUF
import TensorCore

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Rewrite a GGUF with its weight matrices in Q8_0, Q4_0 or Q4_1, keeping all metadata (tokenizer included).",
        discussion: """
            Every 2-D tensor whose rows are a multiple of 32 becomes --type (ggml's reference quantizers, so \
            llama.cpp reads the file as its own); a tensor already in that type is copied as it is; vectors \
            such as norms stay F32. general.file_type is set to match (7 MOSTLY_Q8_0, 2 MOSTLY_Q4_0, \
            3 MOSTLY_Q4_1). A 4-bit copy of the target makes a cheap self-draft (--draft PATH).
            """)

    @Argument(help: "Input GGUF.") var input: String
    @Argument(help: "Output GGUF.") var output: String
    @Option(help: "Weight type: q8_0, q4_0 or q4_1.") var type: String = "q8_0"
    @Flag(help: "Overwrite the output if it exists.") var force = false

    /// The output type and its general.file_type (llama.cpp's LLAMA_FTYPE_MOSTLY_* numbers).
    static let types: [String: (GGMLType, UInt32)] = ["q8_0": (.q8_0, 7), "q4_0": (.q4_0, 2), "q4_1": (.q4_1, 3)]

    func validate() throws {
        guard Self.types[type.lowercased()] != nil else { throw ValidationError("--type must be q8_0, q4_0 or q4_1") }
        guard input != output else { throw ValidationError("input and output must differ") }
    }

    func run() throws {
        if FileManager.default.fileExists(atPath: output) && !force {
            throw CLIError("'\(output)' exists (use --force to overwrite)")
        }
        let f = try GGUFFile(path: input)
        var w = GGUFWriter()
        for k in f.keys { w.set(k, f.metadata[k]!) }
        let (ggml, fileType) = Self.types[type.lowercased()]!
        w.set("general.file_type", .uint32(fileType))
        var quantized = 0
        for (i, t) in f.tensors.enumerated() {
            let bytes = f.bytes(of: t)
            let isMatrix = t.dims.count >= 2 && t.dims[0] % 32 == 0 && t.dims[1...].contains { $0 > 1 }
            if isMatrix && t.type != ggml {
                let floats = try Dequantize.toFloatBuffer(t, bytes: bytes)
                w.addTensor(name: t.name, dims: t.dims, type: ggml, data: Dequantize.quantize(UnsafeBufferPointer(floats.buffer), to: ggml))
                quantized += 1
            } else {
                w.addTensor(name: t.name, dims: t.dims, type: t.type, data: Array(bytes))
            }
            if (i + 1) % 50 == 0 { note("  \(i + 1)/\(f.tensors.count) tensors") }
        }
        try w.write(to: output)
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        print("wrote \(output): \(f.tensors.count) tensors (\(quantized) quantized to \(ggml.name)), \(f.keys.count) metadata keys, \(size) bytes")
    }
}
