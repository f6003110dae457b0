import CKernels
import Compute
import GGUF
import TensorCore

/// The 4-bit formats of ggml, computed natively: 32 weights a block, value = d·q + m with q in 0…15
/// (Q4_0: m = −8d; Q4_1: its stored min). Activations are quantized to int8 blocks before each
/// product (with per-block sums for the offset term), as ggml's Q4 × Q8 paths do. A tensor stored in
/// the chosen format is used as it is (repacked, bit for bit); any other is quantized with ggml's
/// reference quantizer first.
public struct Q4Backend: ComputeBackend {
    public enum Format: String, Sendable { case q4_0, q4_1 }

    public let format: Format
    public let threads: Int
    public var name: String { format.rawValue }

    /// `threads` > 1 sets the shared helper count; 1 leaves it alone (a draft beside a threaded target).
    public init(_ format: Format, threads: Int = 1) {
        self.format = format
        self.threads = max(1, threads)
        if self.threads > 1 { Ops.setBLASThreads(self.threads) }
    }

    public func prepare(stacking parts: [(info: GGUFTensorInfo, bytes: UnsafeRawBufferPointer)]) throws -> any LinearWeight {
        let (out, inF) = try stackedShape(parts)
        guard inF % 32 == 0 else { throw BackendError.rowLengthNotMultipleOf32(tensor: parts[0].info.name, rowLength: inF) }
        let rowBytes = ck_q4_row_bytes(Int32(inF))
        let w = Q4Weight(out: out, in: inF, format: format, threaded: threads > 1)
        let type: Int32 = format == .q4_0 ? Int32(CK_Q4_0) : Int32(CK_Q4_1)
        let blockBytes = format == .q4_0 ? 18 : 20
        var row = 0
        for (info, bytes) in parts {
            let rows = try info.matrixShape().out
            let dst = w.data.pointer + row * rowBytes
            let bad: Int32
            if info.type == (format == .q4_0 ? .q4_0 : .q4_1) {
                guard let base = bytes.baseAddress, bytes.count == info.byteCount else {
                    throw GGUFError.tensorDataOutOfBounds(tensor: info.name, offset: UInt64(info.offset), bytes: info.byteCount, dataSize: bytes.count)
                }
                bad = ck_q4_repack(dst, base.assumingMemoryBound(to: UInt8.self), type, Int32(rows), Int32(inF))
            } else {
                let f = try Dequantize.toFloatBuffer(info, bytes: bytes)
                var blocks = [UInt8](repeating: 0, count: rows * inF / 32 * blockBytes)
                blocks.withUnsafeMutableBufferPointer { b in
                    if format == .q4_0 { ck_quantize_q4_0(b.baseAddress!, f.pointer, rows * inF) } else { ck_quantize_q4_1(b.baseAddress!, f.pointer, rows * inF) }
                }
                bad = ck_q4_repack(dst, blocks, type, Int32(rows), Int32(inF))
            }
            if bad >= 0 { throw NonFiniteWeight(tensor: info.name, index: Int(bad), value: .nan) }
            row += rows
        }
        return w
    }

    public func scratchBytes(rows: Int, maxIn: Int) -> Int { rows * maxIn + 2 * Q4Weight.scaleBytes(rows: rows, k: maxIn) + 64 }
}

final class Q4Weight: LinearWeight {
    let outFeatures: Int
    let inFeatures: Int
    let format: Q4Backend.Format
    let data: AlignedBuffer<UInt8>
    let threaded: Bool

    init(out: Int, in inF: Int, format: Q4Backend.Format, threaded: Bool) {
        outFeatures = out
        inFeatures = inF
        self.format = format
        self.threaded = threaded
        data = AlignedBuffer<UInt8>(count: out * ck_q4_row_bytes(Int32(inF)))
    }

    static func scaleBytes(rows: Int, k: Int) -> Int { (rows * (k / 32) * 4 + 63) / 64 * 64 }

    var byteCount: Int { data.bytes }

    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        apply(x, rows: rows, outRows: outFeatures, into: y, scratch: scratch)
    }

    func apply(_ x: UnsafePointer<Float>, rows: Int, outRows: Int, into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        let sb = Self.scaleBytes(rows: rows, k: inFeatures)
        let nb = rows * inFeatures / 32
        let xs = scratch.bindMemory(to: Float.self, capacity: nb)
        let sums = (scratch + sb).bindMemory(to: Float.self, capacity: nb)
        let xq = (scratch + 2 * sb).bindMemory(to: Int8.self, capacity: rows * inFeatures)
        Ops.quantizeRows(xq, scales: xs, x, rows: rows, k: inFeatures)
        Ops.blockSums(sums, qs: xq, scales: xs, rows: rows, k: inFeatures)
        Ops.q4Matmul(y, xq: xq, xScales: xs, xSums: sums, w: data.pointer, m: rows, n: min(outRows, outFeatures),
                     k: inFeatures, threaded: threaded)
    }

    func copyRow(_ index: Int, into out: UnsafeMutablePointer<Float>) {
        let nb = inFeatures / 32
        let row = data.pointer + index * ck_q4_row_bytes(Int32(inFeatures))
        let dm = row + inFeatures / 2
        for b in 0..<nb {
            let d = Dequantize.fp16ToFloat(UInt16(dm[2 * b]) | UInt16(dm[2 * b + 1]) << 8)
            let m = Dequantize.fp16ToFloat(UInt16(dm[2 * (nb + b)]) | UInt16(dm[2 * (nb + b) + 1]) << 8)
            for j in 0..<16 {
                let q = row[b * 16 + j]
                out[b * 32 + j] = d * Float(q & 0x0F) + m
                out[b * 32 + j + 16] = d * Float(q >> 4) + m
            }
        }
    }
}
