import CKernels
import TensorCore

/// Timing of the int8 GEMV/GEMM kernel on synthetic matrices.
public struct Int8MatmulBench {
    public let n: Int  // weight rows (outputs)
    public let k: Int  // row length (inputs)
    let w: AlignedBuffer<UInt8>
    let xq: AlignedBuffer<Int8>
    let xs: FloatBuffer
    let xcorr: AlignedBuffer<Int32>
    let y: FloatBuffer
    public static let maxRows = 32

    public init(n: Int, k: Int, seed: UInt64 = 1) {
        self.n = n
        self.k = k
        let wq = AlignedBuffer<Int8>(count: n * k)
        let ws = FloatBuffer(count: n * k / 32)
        w = AlignedBuffer<UInt8>(count: ck_q8x16_bytes(Int32(n), Int32(k)))
        xq = AlignedBuffer<Int8>(count: Self.maxRows * k)
        xs = FloatBuffer(count: Self.maxRows * k / 32)
        y = FloatBuffer(count: Self.maxRows * n)
        var s = seed
        for i in 0..<(n * k) {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            wq[i] = Int8(truncatingIfNeeded: Int(s >> 33) % 255 - 127)
        }
        for i in 0..<ws.count { ws[i] = 0.01 }
        for i in 0..<xq.count { xq[i] = Int8(truncatingIfNeeded: i % 255 - 127) }
        for i in 0..<xs.count { xs[i] = 0.02 }
        ck_q8x16_pack(w.pointer, wq.pointer, ws.pointer, Int32(n), Int32(k))
        xcorr = AlignedBuffer<Int32>(count: Self.maxRows * k / 32)
        Ops.blockCorrections(xcorr.pointer, qs: xq.pointer, rows: Self.maxRows, k: k)
    }

    public var weightBytes: Int { w.bytes }

    /// Median seconds of one product with `rows` activation rows over `reps` repetitions (after a warm-up).
    public func time(rows: Int, reps: Int, reference: Bool = false) -> Stats {
        let f = reference ? ck_q8_matmul_ref : ck_q8_matmul
        f(y.pointer, Int32(n), xq.pointer, xs.pointer, xcorr.pointer, w.pointer, Int32(rows), Int32(n), Int32(k))
        var samples: [Double] = []
        for _ in 0..<reps {
            let t0 = WallClock.now()
            f(y.pointer, Int32(n), xq.pointer, xs.pointer, xcorr.pointer, w.pointer, Int32(rows), Int32(n), Int32(k))
            samples.append(WallClock.now() - t0)
        }
        return Stats(samples)
    }
}
