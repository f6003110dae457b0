import BackendBLAS
import BackendQuantized
import Compute
import GGUF
import Llama

// libFuzzer target: bytes all the way to a bound model. Parse the GGUF, read the Llama configuration,
// bind every tensor on the fp32 and the int8 backend (shapes, missing tensors, unsupported types,
// NaN/Inf weights, absurd metadata), then run two tokens through a small session. Every input must be
// refused with an error or run; a trap, a sanitizer report or a hang is a finding.
let backends: [any ComputeBackend] = [BLASBackend(threads: 1), Int8Backend(threads: 1)]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModel(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard let file = try? GGUFFile(bytes: Array(UnsafeBufferPointer(start: data, count: size))) else { return 0 }
    for backend in backends {
        guard let model = try? LlamaModel(file: file, backend: backend) else { continue }
        let session = model.makeSession(maxContext: 8, maxBatch: 2)
        let vocab = Int32(model.config.vocabSize)
        _ = try? session.forward([0, vocab - 1], at: 0, allLogits: true)
        _ = try? session.forward([vocab], at: 2)  // out of range: must be refused
    }
    return 0
}
