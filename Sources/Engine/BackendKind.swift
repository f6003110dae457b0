import BackendBLAS
import BackendQuantized
import Compute

/// The compute format of a model's weights, which decides its backend. `blas` and `int8` are the
/// older names of f32 and q8_0.
public enum BackendKind: String, CaseIterable, Sendable, Codable {
    case f32, q8_0, q4_0, q4_1, native

    /// A name or one of the older aliases.
    public init?(name: String) {
        switch name {
        case "blas": self = .f32
        case "int8": self = .q8_0
        default: self.init(rawValue: name)
        }
    }

    public static let help = "f32 (fp32 OpenBLAS, alias blas), q8_0 (W8A8, alias int8), q4_0, q4_1 (4-bit weights x int8 activations), or native (each weight in its stored format, as llama.cpp)"

    public func make(threads: Int) -> any ComputeBackend {
        switch self {
        case .f32: BLASBackend(threads: threads)
        case .q8_0: Int8Backend(threads: threads)
        case .q4_0: Q4Backend(.q4_0, threads: threads)
        case .q4_1: Q4Backend(.q4_1, threads: threads)
        case .native: NativeBackend(threads: threads, unquantized: BLASBackend(threads: threads))
        }
    }
}

/// ar: the target alone; sd: serial speculative decoding; mirror: Mirror-SD on two threads.
public enum DecodeMode: String, CaseIterable, Sendable, Codable { case ar, sd, mirror }
