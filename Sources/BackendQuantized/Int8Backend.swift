import CKernels
import Compute
import GGUF
import TensorCore

/// The int8 "NPU": every matrix becomes int8 blocks of 32 with one fp32 scale per block (Q8_0-style),
/// stored in the x16 layout. Activations are quantized the same way before each product (W8A8, as
/// ggml's Q8_0 path).
public struct Int8Backend: ComputeBackend {
    public let name = "int8"
    /// Products run on this many threads (the caller plus the shared helpers of `Ops.setBLASThreads`).
    public let threads: Int

    public init(threads: Int = 1) {
        self.threads = claimThreads(threads)
    }

    public func prepare(stacking parts: [(info: GGUFTensorInfo, bytes: UnsafeRawBufferPointer)]) throws -> any LinearWeight {
        let (out, inF) = try stackedShape(parts)
        guard inF % 32 == 0 else { throw BackendError.rowLengthNotMultipleOf32(tensor: parts[0].info.name, rowLength: inF) }
        // Row-major int8 and scales first (the x16 groups may straddle the parts), then packed.
        let qs = AlignedBuffer<Int8>(count: out * inF)
        let scales = FloatBuffer(count: out * inF / 32)
        var block = 0  // first block of the current part
        for (info, bytes) in parts {
            let rows = try info.matrixShape().out
            let blocks = rows * inF / 32
            if info.type == .q8_0 {
                // Used as they are: fp16 scale + 32 int8 per 34-byte block. ggml's quantizer never
                // writes -128; should a file hold one, it becomes -127 (the kernel's operand range).
                guard let base = bytes.baseAddress, bytes.count >= blocks * 34 else {
                    throw GGUFError.tensorDataOutOfBounds(tensor: info.name, offset: UInt64(info.offset), bytes: blocks * 34, dataSize: bytes.count)
                }
                let src = base.assumingMemoryBound(to: UInt8.self)
                for b in 0..<blocks {
                    let blk = src + b * 34
                    let d = Dequantize.fp16ToFloat(UInt16(blk[0]) | UInt16(blk[1]) << 8)
                    guard d.isFinite else { throw NonFiniteWeight(tensor: info.name, index: b * 32, value: d) }
                    scales[block + b] = d
                    let dst = qs.pointer + (block + b) * 32
                    for j in 0..<32 { dst[j] = max(Int8(bitPattern: blk[2 + j]), -127) }
                }
            } else {
                let f = try Dequantize.toFloatBuffer(info, bytes: bytes)
                Ops.quantizeRows(qs.pointer + block * 32, scales: scales.pointer + block, f.pointer, rows: rows, k: inF)
            }
            block += blocks
        }
        let w = Int8Weight(out: out, in: inF, threaded: threads > 1)
        ck_q8x16_pack(w.data.pointer, qs.pointer, scales.pointer, Int32(out), Int32(inF))
        return w
    }

    public func scratchBytes(rows: Int, maxIn: Int) -> Int { X16Weight.scratchBytes(rows: rows, maxIn: maxIn) }
}

/// Q8_0 in the x16 layout: each activation block's term is its −128·Σx correction (the weights are
/// stored as w + 128).
final class Int8Weight: X16Weight, @unchecked Sendable {
    init(out: Int, in inF: Int, threaded: Bool) {
        super.init(out: out, in: inF, threaded: threaded, bytes: ck_q8x16_bytes(Int32(out), Int32(inF)))
    }

    override func product(_ y: UnsafeMutablePointer<Float>, xq: UnsafePointer<Int8>, xScales: UnsafePointer<Float>,
                          term: UnsafeMutableRawPointer, rows: Int, n: Int) {
        let corr = term.bindMemory(to: Int32.self, capacity: rows * inFeatures / 32)
        Ops.blockCorrections(corr, qs: xq, rows: rows, k: inFeatures)
        Ops.q8Matmul(y, xq: xq, xScales: xScales, xCorr: corr, w: data.pointer, m: rows, n: n, k: inFeatures, threaded: threaded)
    }

    override func copyRow(_ index: Int, into out: UnsafeMutablePointer<Float>) {
        ck_q8x16_row(out, data.pointer, Int32(index), Int32(inFeatures))
    }
}
