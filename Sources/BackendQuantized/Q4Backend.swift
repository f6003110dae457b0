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

    public init(_ format: Format, threads: Int = 1) {
        self.format = format
        self.threads = claimThreads(threads)
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

    public func scratchBytes(rows: Int, maxIn: Int) -> Int { X16Weight.scratchBytes(rows: rows, maxIn: maxIn) }
}

/// Q4_0/Q4_1 in the x16 layout: each activation block's term is its scaled sum (for the offset m).
final class Q4Weight: X16Weight, @unchecked Sendable {
    init(out: Int, in inF: Int, threaded: Bool) {
        super.init(out: out, in: inF, threaded: threaded, bytes: ck_q4x16_bytes(Int32(out), Int32(inF)))
    }

    override func product(_ y: UnsafeMutablePointer<Float>, xq: UnsafePointer<Int8>, xScales: UnsafePointer<Float>,
                          term: UnsafeMutableRawPointer, rows: Int, n: Int) {
        let sums = term.bindMemory(to: Float.self, capacity: rows * inFeatures / 32)
        Ops.blockSums(sums, qs: xq, scales: xScales, rows: rows, k: inFeatures)
        Ops.q4Matmul(y, xq: xq, xScales: xScales, xSums: sums, w: data.pointer, m: rows, n: n, k: inFeatures, threaded: threaded)
    }

    override func copyRow(_ index: Int, into out: UnsafeMutablePointer<Float>) {
        ck_q4x16_row(out, data.pointer, Int32(index), Int32(inFeatures))
    }
}
