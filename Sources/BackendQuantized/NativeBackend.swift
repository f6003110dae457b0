import Compute
import GGUF

/// Each weight computed in the format it is stored in, as llama.cpp does: Q4_0 and Q4_1 through the
/// Q4 product, Q8_0 through the int8 one, anything else (F32, F16, BF16, or a stack of mixed types)
/// on `unquantized` (the fp32 backend, which the caller supplies: this module does not depend on it).
/// For a typical llama.cpp Q4 file: 4-bit layers and a Q8_0 embedding/head.
public struct NativeBackend: ComputeBackend {
    public let name = "native"
    public let threads: Int
    private let q4_0: Q4Backend
    private let q4_1: Q4Backend
    private let q8_0: Int8Backend
    private let f32: any ComputeBackend

    public init(threads: Int = 1, unquantized: any ComputeBackend) {
        self.threads = max(1, threads)
        q4_0 = Q4Backend(.q4_0, threads: self.threads)
        q4_1 = Q4Backend(.q4_1, threads: self.threads)
        q8_0 = Int8Backend(threads: self.threads)
        f32 = unquantized
    }

    /// The backend a stack of parts is computed with.
    public func backend(for types: [GGMLType]) -> any ComputeBackend {
        guard let first = types.first, types.allSatisfy({ $0 == first }) else { return f32 }
        switch first {
        case .q4_0: return q4_0
        case .q4_1: return q4_1
        case .q8_0: return q8_0
        default: return f32
        }
    }

    public func prepare(stacking parts: [(info: GGUFTensorInfo, bytes: UnsafeRawBufferPointer)]) throws -> any LinearWeight {
        try backend(for: parts.map(\.info.type)).prepare(stacking: parts)
    }

    public func scratchBytes(rows: Int, maxIn: Int) -> Int {
        max(q4_0.scratchBytes(rows: rows, maxIn: maxIn), q8_0.scratchBytes(rows: rows, maxIn: maxIn),
            f32.scratchBytes(rows: rows, maxIn: maxIn))
    }
}
