import Compute
import TensorCore

/// A weight matrix in an x16 layout (16 rows interleaved per 32-weight block) and the product the
/// Q8_0 and Q4 formats share: the activations quantized to int8 blocks with a scale each, one 4-byte
/// term per block that the format defines, then the format's kernel (`product`).
class X16Weight: LinearWeight, @unchecked Sendable {
    // Sendable: the packed data is written once at load, then only read.
    let outFeatures: Int
    let inFeatures: Int
    let data: AlignedBuffer<UInt8>
    let threaded: Bool

    init(out: Int, in inF: Int, threaded: Bool, bytes: Int) {
        outFeatures = out
        inFeatures = inF
        self.threaded = threaded
        data = AlignedBuffer<UInt8>(count: bytes, streamed: true)
    }

    /// Bytes of one 4-byte value per activation block, rounded to a cache line.
    static func termBytes(rows: Int, k: Int) -> Int { (rows * (k / 32) * 4 + 63) / 64 * 64 }

    /// Scratch for `rows` activation rows of at most `maxIn` values: scales, terms, then the int8 rows.
    static func scratchBytes(rows: Int, maxIn: Int) -> Int { rows * maxIn + 2 * termBytes(rows: rows, k: maxIn) + 64 }

    var byteCount: Int { data.bytes }

    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        apply(x, rows: rows, outRows: outFeatures, into: y, scratch: scratch)
    }

    func apply(_ x: UnsafePointer<Float>, rows: Int, outRows: Int, into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        let tb = Self.termBytes(rows: rows, k: inFeatures)
        let xs = scratch.bindMemory(to: Float.self, capacity: rows * inFeatures / 32)
        let xq = (scratch + 2 * tb).bindMemory(to: Int8.self, capacity: rows * inFeatures)
        Ops.quantizeRows(xq, scales: xs, x, rows: rows, k: inFeatures)
        product(y, xq: xq, xScales: xs, term: scratch + tb, rows: rows, n: min(outRows, outFeatures))
    }

    /// The format's part: fill the per-block terms at `term`, then y[rows][n] = x · Wᵀ.
    func product(_ y: UnsafeMutablePointer<Float>, xq: UnsafePointer<Int8>, xScales: UnsafePointer<Float>,
                 term: UnsafeMutableRawPointer, rows: Int, n: Int) {
        preconditionFailure("X16Weight.product is the format's")
    }

    func copyRow(_ index: Int, into out: UnsafeMutablePointer<Float>) { preconditionFailure("X16Weight.copyRow is the format's") }
}
