import CKernels
import Compute
import GGUF
import TensorCore

/// The 4-bit formats of ggml, computed natively: 32 weights a block, value = d·q + m with q in 0…15
/// (Q4_0: m = −8d; Q4_1: its stored min). Activations are quantized to int8 blocks before each
/// product (with per-block sums for the offset term), as ggml's Q4 × Q8 paths do. A tensor stored in
/// the chosen format is used as it is (repacked into the x16 layout, bit for bit); any other is
/// quantized with ggml's reference quantizer first.
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
        let type: Int32 = format == .q4_0 ? Int32(CK_Q4_0) : Int32(CK_Q4_1)
        let ggmlType: GGMLType = format == .q4_0 ? .q4_0 : .q4_1
        let blockBytes = format == .q4_0 ? 18 : 20
        let partBlocks = try parts.map { try $0.info.matrixShape().out * inF / 32 }
        // The x16 groups may straddle the stacked parts, so the parts' ggml blocks are gathered first.
        var blocks = [UInt8](repeating: 0, count: partBlocks.reduce(0, +) * blockBytes)
        var at = 0
        for ((info, bytes), count) in zip(parts, partBlocks) {
            let n = count * blockBytes
            if info.type == ggmlType {
                guard let base = bytes.baseAddress, bytes.count == info.byteCount, info.byteCount == n else {
                    throw GGUFError.tensorDataOutOfBounds(tensor: info.name, offset: UInt64(info.offset), bytes: info.byteCount, dataSize: bytes.count)
                }
                blocks.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: at).copyMemory(from: base, byteCount: n) }
            } else {
                let f = try Dequantize.toFloatBuffer(info, bytes: bytes)
                blocks.withUnsafeMutableBufferPointer { b in
                    let dst = b.baseAddress! + at
                    if format == .q4_0 { ck_quantize_q4_0(dst, f.pointer, count * 32) } else { ck_quantize_q4_1(dst, f.pointer, count * 32) }
                }
            }
            at += n
        }
        let w = Q4Weight(out: out, in: inF, threaded: threads > 1)
        let bad = ck_q4x16_pack(w.data.pointer, blocks, type, Int32(out), Int32(inF))
        if bad >= 0 {
            // Name the part the bad block came from.
            var row = Int(bad) / inF
            for (info, count) in zip(parts.map(\.info), partBlocks) {
                let rows = count * 32 / inF
                if row < rows { throw NonFiniteWeight(tensor: info.name, index: row * inF + Int(bad) % inF, value: .nan) }
                row -= rows
            }
            throw NonFiniteWeight(tensor: parts[0].info.name, index: Int(bad), value: .nan)
        }
        return w
    }

    public func scratchBytes(rows: Int, maxIn: Int) -> Int { rows * maxIn + 2 * Q4Weight.scaleBytes(rows: rows, k: maxIn) + 64 }
}

final class Q4Weight: LinearWeight {
    let outFeatures: Int
    let inFeatures: Int
    let data: AlignedBuffer<UInt8>
    let threaded: Bool

    init(out: Int, in inF: Int, threaded: Bool) {
        outFeatures = out
        inFeatures = inF
        self.threaded = threaded
        data = AlignedBuffer<UInt8>(count: ck_q4x16_bytes(Int32(out), Int32(inF)))
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
        ck_q4x16_row(out, data.pointer, Int32(index), Int32(inFeatures))
    }
}
