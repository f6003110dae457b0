#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes GGUF v3 in the exact layout llama.cpp's reader demands: tensors back to back, each padded
/// to the alignment, offsets in file order.
public struct GGUFWriter {
    public private(set) var metadata: [(String, GGUFValue)] = []
    public private(set) var tensors: [(name: String, dims: [Int], type: GGMLType, data: [UInt8])] = []

    public init() {}

    public var alignment: Int {
        for (k, v) in metadata where k == "general.alignment" {
            if case let .uint32(a) = v { return Int(a) }
        }
        return 32
    }

    /// Adds or replaces a key (order of first insertion is kept).
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.0 == key }) { metadata[i].1 = value } else { metadata.append((key, value)) }
    }

    public mutating func remove(_ key: String) { metadata.removeAll { $0.0 == key } }

    /// dims in ggml order (row length first); data must hold exactly the tensor's bytes.
    public mutating func addTensor(name: String, dims: [Int], type: GGMLType, data: [UInt8]) {
        tensors.append((name, dims, type, data))
    }

    public mutating func addTensor(name: String, dims: [Int], floats: [Float]) {
        var bytes = [UInt8](repeating: 0, count: floats.count * 4)
        bytes.withUnsafeMutableBytes { dst in floats.withUnsafeBytes { dst.copyMemory(from: $0) } }
        addTensor(name: name, dims: dims, type: .f32, data: bytes)
    }

    public func serialize() -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: s.utf8) }
        func value(_ v: GGUFValue) {
            switch v {
            case let .uint8(x): out.append(x)
            case let .int8(x): out.append(UInt8(bitPattern: x))
            case let .uint16(x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case let .int16(x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case let .uint32(x): u32(x)
            case let .int32(x): u32(UInt32(bitPattern: x))
            case let .float32(x): u32(x.bitPattern)
            case let .bool(x): out.append(x ? 1 : 0)
            case let .string(s): str(s)
            case let .array(t, items):
                u32(t.rawValue)
                u64(UInt64(items.count))
                for item in items { value(item) }
            case let .uint64(x): u64(x)
            case let .int64(x): u64(UInt64(bitPattern: x))
            case let .float64(x): u64(x.bitPattern)
            }
        }
        out.append(contentsOf: Array("GGUF".utf8))
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (k, v) in metadata {
            str(k)
            u32(v.type.rawValue)
            value(v)
        }
        let align = alignment
        func pad(_ n: Int) -> Int { (n + align - 1) / align * align }
        var offset = 0
        for t in tensors {
            str(t.name)
            u32(UInt32(t.dims.count))
            for d in t.dims { u64(UInt64(d)) }
            u32(t.type.rawValue)
            u64(UInt64(offset))
            offset += pad(t.data.count)
        }
        if !tensors.isEmpty { out.append(contentsOf: [UInt8](repeating: 0, count: pad(out.count) - out.count)) }
        for t in tensors {
            out.append(contentsOf: t.data)
            out.append(contentsOf: [UInt8](repeating: 0, count: pad(t.data.count) - t.data.count))
        }
        return out
    }

    public func write(to path: String) throws {
        let bytes = serialize()
        guard let f = fopen(path, "wb") else {
            throw GGUFError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
        defer { fclose(f) }
        let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        guard n == bytes.count else { throw GGUFError.writeFailed(path: path, reason: "short write") }
    }
}
