import Compute
import GGUF
import TensorCore

/// The int8 "NPU": every matrix becomes int8 blocks of 32 with one fp32 scale per block (Q8_0-style).
/// Activations are quantized the same way before each product (W8A8, as ggml's Q8_0 path).
public struct Int8Backend: ComputeBackend {
    public let name = "int8"
    /// Products run on this many threads (the caller plus the shared helpers of `Ops.setBLASThreads`).
    public let threads: Int

    /// `threads` > 1 sets the shared helper count; 1 leaves it alone (a draft beside a threaded target).
    public init(threads: Int = 1) {
        self.threads = max(1, threads)
        if self.threads > 1 { Ops.setBLASThreads(self.threads) }
    }

    public func prepare(stacking parts: [(info: GGUFTensorInfo, bytes: UnsafeRawBufferPointer)]) throws -> any LinearWeight {
        let (out, inF) = try stackedShape(parts)
        guard inF % 32 == 0 else { throw BackendError.rowLengthNotMultipleOf32(tensor: parts[0].info.name, rowLength: inF) }
        let w = Int8Weight(out: out, in: inF, threaded: threads > 1)
        var block = 0  // first block of the current part
        for (info, bytes) in parts {
            let rows = try info.matrixShape().out
            let blocks = rows * inF / 32
            if info.type == .q8_0 {
                // Used as they are: fp16 scale + 32 int8 per 34-byte block. ggml's quantizer never
                // writes -128; should a file hold one, it becomes -127 (the kernel's operand range).
                let src = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
                for b in 0..<blocks {
                    let blk = src + b * 34
                    let d = Dequantize.fp16ToFloat(UInt16(blk[0]) | UInt16(blk[1]) << 8)
                    guard d.isFinite else { throw NonFiniteWeight(tensor: info.name, index: b * 32, value: d) }
                    w.scales[block + b] = d
                    let dst = w.qs.pointer + (block + b) * 32
                    for j in 0..<32 { dst[j] = max(Int8(bitPattern: blk[2 + j]), -127) }
                }
            } else {
                let f = try Dequantize.toFloatBuffer(info, bytes: bytes)
                Ops.quantizeRows(w.qs.pointer + block * 32, scales: w.scales.pointer + block, f.pointer, rows: rows, k: inF)
            }
            block += blocks
        }
        return w
    }

    public func scratchBytes(rows: Int, maxIn: Int) -> Int { rows * maxIn + rows * (maxIn / 32) * 4 + 64 }
}

final class Int8Weight: LinearWeight {
    let outFeatures: Int
    let inFeatures: Int
    let qs: AlignedBuffer<Int8>
    let scales: FloatBuffer
    let threaded: Bool

    init(out: Int, in inF: Int, threaded: Bool) {
        outFeatures = out
        inFeatures = inF
        self.threaded = threaded
        qs = AlignedBuffer<Int8>(count: out * inF)
        scales = FloatBuffer(count: out * inF / 32)
    }

    var byteCount: Int { qs.bytes + scales.bytes }

    func apply(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        apply(x, rows: rows, outRows: outFeatures, into: y, scratch: scratch)
    }

    func apply(_ x: UnsafePointer<Float>, rows: Int, outRows: Int, into y: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
        let scaleBytes = (rows * (inFeatures / 32) * 4 + 63) / 64 * 64
        let xs = scratch.bindMemory(to: Float.self, capacity: rows * inFeatures / 32)
        let xq = (scratch + scaleBytes).bindMemory(to: Int8.self, capacity: rows * inFeatures)
        Ops.quantizeRows(xq, scales: xs, x, rows: rows, k: inFeatures)
        Ops.q8Matmul(y, xq: xq, xScales: xs, wq: qs.pointer, wScales: scales.pointer, m: rows, n: min(outRows, outFeatures), k: inFeatures, threaded: threaded)
    }

    func copyRow(_ index: Int, into out: UnsafeMutablePointer<Float>) {
        let nb = inFeatures / 32
        for b in 0..<nb {
            let d = scales[index * nb + b]
            let q = qs.pointer + index * inFeatures + b * 32
            for j in 0..<32 { out[b * 32 + j] = d * Float(q[j]) }
        }
    }
}
