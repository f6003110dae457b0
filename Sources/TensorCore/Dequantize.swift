import CKernels
import GGUF

/// Converts GGUF tensor bytes to fp32.
public enum Dequantize {
    public static let supported: Set<GGMLType> = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1]

    /// Writes `info.elementCount` floats to `out`; a NaN or infinite weight is an error naming the tensor.
    public static func toFloat(_ info: GGUFTensorInfo, bytes: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<Float>) throws {
        let n = info.elementCount
        guard let base = bytes.baseAddress, bytes.count == info.byteCount else {
            throw GGUFError.tensorDataOutOfBounds(tensor: info.name, offset: UInt64(info.offset), bytes: info.byteCount, dataSize: bytes.count)
        }
        switch info.type {
        case .f32: out.update(from: base.assumingMemoryBound(to: Float.self), count: n)
        case .f16: ck_dequant_f16(out, base.assumingMemoryBound(to: UInt16.self), n)
        case .bf16: ck_dequant_bf16(out, base.assumingMemoryBound(to: UInt16.self), n)
        case .q8_0: ck_dequant_q8_0(out, base.assumingMemoryBound(to: UInt8.self), n)
        case .q4_0: ck_dequant_q4_0(out, base.assumingMemoryBound(to: UInt8.self), n)
        case .q4_1: ck_dequant_q4_1(out, base.assumingMemoryBound(to: UInt8.self), n)
        default: throw GGUFError.unsupportedTensorType(tensor: info.name, type: info.type.name)
        }
        try requireFinite(out, count: n, tensor: info.name)
    }

    public static func requireFinite(_ x: UnsafePointer<Float>, count: Int, tensor: String) throws {
        let i = ck_first_nonfinite(x, count)
        if i >= 0 { throw NonFiniteWeight(tensor: tensor, index: Int(i), value: x[Int(i)]) }
    }

    public static func toFloatBuffer(_ info: GGUFTensorInfo, bytes: UnsafeRawBufferPointer) throws -> FloatBuffer {
        let buf = FloatBuffer(count: info.elementCount)
        try toFloat(info, bytes: bytes, into: buf.pointer)
        return buf
    }

    /// ggml's reference Q8_0 quantizer; `x.count` must be a multiple of 32.
    public static func quantizeQ8_0(_ x: UnsafeBufferPointer<Float>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: x.count / 32 * 34)
        out.withUnsafeMutableBufferPointer { ck_quantize_q8_0($0.baseAddress!, x.baseAddress!, x.count) }
        return out
    }

    /// ggml's reference quantizer for `type` (q8_0, q4_0 or q4_1); `x.count` must be a multiple of 32.
    public static func quantize(_ x: UnsafeBufferPointer<Float>, to type: GGMLType) -> [UInt8] {
        switch type {
        case .q4_0:
            var out = [UInt8](repeating: 0, count: x.count / 32 * 18)
            out.withUnsafeMutableBufferPointer { ck_quantize_q4_0($0.baseAddress!, x.baseAddress!, x.count) }
            return out
        case .q4_1:
            var out = [UInt8](repeating: 0, count: x.count / 32 * 20)
            out.withUnsafeMutableBufferPointer { ck_quantize_q4_1($0.baseAddress!, x.baseAddress!, x.count) }
            return out
        default:
            precondition(type == .q8_0, "no quantizer for \(type.name)")
            return quantizeQ8_0(x)
        }
    }

    public static func fp16ToFloat(_ h: UInt16) -> Float { ck_fp16_to_fp32(h) }
    public static func floatToFP16(_ f: Float) -> UInt16 { ck_fp32_to_fp16(f) }
}

/// A weight (or a block scale) that is NaN or infinite: the file is corrupt, and a model bound to it
/// would compute garbage.
public struct NonFiniteWeight: Error, CustomStringConvertible, Equatable {
    public let tensor: String
    public let index: Int
    public let value: Float
    public init(tensor: String, index: Int, value: Float) {
        self.tensor = tensor
        self.index = index
        self.value = value
    }
    public var description: String {
        "tensor '\(tensor)' holds a non-finite value (\(value)) at element \(index): the file is corrupt"
    }
}
