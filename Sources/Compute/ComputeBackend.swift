import GGUF
import TensorCore

/// A weight matrix prepared by a backend: `outFeatures` rows of `inFeatures` (y = W·x per row).
/// Shared read-only by every session of a model.
public protocol LinearWeight: AnyObject, Sendable {
    var outFeatures: Int { get }
    var inFeatures: Int { get }
    /// Bytes the backend reads per full pass over the weight.
    var byteCount: Int { get }
    /// y[rows][out] = x[rows][in] · Wᵀ. `scratch` holds at least the backend's `scratchBytes` for
    /// `rows` rows. Allocates nothing.
    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer)
    /// Like `apply`, for the first `outRows` output rows only (y has `outRows` columns).
    func apply(_ x: UnsafePointer<Float>, rows: Int, outRows: Int, into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer)
    /// Writes row `index` (an embedding lookup) as fp32.
    func copyRow(_ index: Int, into out: UnsafeMutablePointer<Float>)
}

/// A compute device: it decides how weights are stored and multiplied. Norms, RoPE and attention
/// are fp32 kernels shared by every backend.
public protocol ComputeBackend: Sendable {
    /// "blas" or "int8".
    var name: String { get }
    /// Threads its products run on (the caller plus the shared helpers); the model's attention follows it.
    var threads: Int { get }
    /// Converts GGUF tensors of ggml shape [in, out_i] into one weight of this backend whose rows
    /// are the parts' rows stacked in order (one product then serves several projections).
    func prepare(stacking parts: [(info: GGUFTensorInfo, bytes: UnsafeRawBufferPointer)]) throws -> any LinearWeight
    /// Per-session scratch the backend's `apply` needs for `rows` rows of at most `maxIn` inputs.
    func scratchBytes(rows: Int, maxIn: Int) -> Int
}

public enum BackendError: Error, CustomStringConvertible, Equatable {
    case notAMatrix(tensor: String, dims: [Int])
    case rowLengthNotMultipleOf32(tensor: String, rowLength: Int)
    case stackMismatch(tensor: String, rowLength: Int, expected: Int)

    public var description: String {
        switch self {
        case let .notAMatrix(t, d): return "tensor '\(t)' has shape \(d); a 2-D matrix was expected"
        case let .rowLengthNotMultipleOf32(t, n): return "tensor '\(t)': row length \(n) is not a multiple of 32 (int8 blocks)"
        case let .stackMismatch(t, n, e): return "tensor '\(t)': row length \(n) differs from the \(e) of the tensors it is stacked with"
        }
    }
}

extension ComputeBackend {
    public func prepare(_ info: GGUFTensorInfo, bytes: UnsafeRawBufferPointer) throws -> any LinearWeight {
        try prepare(stacking: [(info, bytes)])
    }
}

extension GGUFTensorInfo {
    /// (out, in) of a 2-D weight stored in ggml order [in, out].
    public func matrixShape() throws -> (out: Int, in: Int) {
        guard dims.count == 2 || (dims.count > 2 && dims[2...].allSatisfy { $0 == 1 }) else {
            throw BackendError.notAMatrix(tensor: name, dims: dims)
        }
        return (dims[1], dims[0])
    }
}

/// (total rows, row length) of a stack of matrices that must share their row length.
public func stackedShape(_ parts: [(info: GGUFTensorInfo, bytes: UnsafeRawBufferPointer)]) throws -> (out: Int, in: Int) {
    var out = 0
    var inF = -1
    for p in parts {
        let s = try p.info.matrixShape()
        if inF >= 0, s.in != inF { throw BackendError.stackMismatch(tensor: p.info.name, rowLength: s.in, expected: inF) }
        inF = s.in
        out += s.out
    }
    return (out, inF)
}

/// The thread count a backend runs on: at least 1. More than 1 sets the shared helper count (the fp32
/// threads); 1 leaves it alone, so a draft made after a threaded target does not take its threads away.
public func claimThreads(_ n: Int) -> Int {
    let t = max(1, n)
    if t > 1 { Ops.setBLASThreads(t) }
    return t
}
