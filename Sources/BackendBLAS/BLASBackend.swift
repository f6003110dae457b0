import Compute
import GGUF
import TensorCore

/// The fp32 "GPU": weights dequantized to fp32 at load (and checked for NaN/inf); products of up to 16
/// rows run the batch-invariant kernel on the fp32 threads, prefill batches OpenBLAS sgemm. The thread
/// count is explicit, never inherited from the environment: 1 from load (CKernels sets it), raised by
/// a backend made with more. A backend of one thread leaves the count alone, so a draft made after a
/// threaded target does not take the target's threads away.
public struct BLASBackend: ComputeBackend {
    public let name = "blas"
    public let threads: Int

    public init(threads: Int = 1) {
        self.threads = claimThreads(threads)
    }

    public func prepare(stacking parts: [(info: GGUFTensorInfo, bytes: UnsafeRawBufferPointer)]) throws -> any LinearWeight {
        let (out, inF) = try stackedShape(parts)
        let data = FloatBuffer(count: out * inF, streamed: true)
        var row = 0
        for p in parts {
            try Dequantize.toFloat(p.info, bytes: p.bytes, into: data.pointer + row * inF)
            row += try p.info.matrixShape().out
        }
        return FP32Weight(out: out, in: inF, data: data)
    }

    public func scratchBytes(rows: Int, maxIn: Int) -> Int { 0 }
}

final class FP32Weight: LinearWeight {
    let outFeatures: Int
    let inFeatures: Int
    let data: FloatBuffer

    init(out: Int, in inF: Int, data: FloatBuffer) {
        outFeatures = out
        inFeatures = inF
        self.data = data
    }

    var byteCount: Int { data.bytes }

    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        Ops.matmul(y, x, data.pointer, m: rows, n: outFeatures, k: inFeatures)
    }

    func apply(_ x: UnsafePointer<Float>, rows: Int, outRows: Int, into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        Ops.matmul(y, x, data.pointer, m: rows, n: min(outRows, outFeatures), k: inFeatures)
    }

    func copyRow(_ index: Int, into out: UnsafeMutablePointer<Float>) {
        out.update(from: data.pointer + index * inFeatures, count: inFeatures)
    }
}
