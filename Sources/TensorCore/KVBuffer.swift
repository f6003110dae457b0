import CKernels

/// How a KV cache stores its keys and values: fp32, or fp16 (half the memory and half the bytes the
/// attention streams, as llama.cpp's default cache; a value is rounded to fp16 once, when it is written).
public enum KVFormat: String, CaseIterable, Sendable {
    case f32, f16
    public var bytesPerElement: Int { self == .f32 ? 4 : 2 }
}

/// One layer's keys or values for every position of a cache, in `format`: 64-byte aligned, zeroed,
/// allocated once. Rows go in through `store` (rounded to the format), never by pointer.
public final class KVBuffer: @unchecked Sendable {
    // Sendable: a cache belongs to one session or batch, which belongs to one thread.
    public let format: KVFormat
    public let count: Int
    let raw: UnsafeMutableRawPointer
    /// Every step streams the cache, so it goes on huge pages; it is written in full now, so its memory is
    /// committed at start, as admission assumes, not on first use in the middle of a request.
    private let storage: ByteStorage

    public init(format: KVFormat, count: Int) {
        self.format = format
        self.count = count
        storage = ByteStorage(bytes: max(count * format.bytesPerElement, 64), hugePages: true, commit: true)
        raw = storage.pointer
    }

    /// Elements `offset..<offset + n` = `x[0..<n]` in the cache's format.
    @inline(__always)
    public func store(_ x: UnsafePointer<Float>, at offset: Int, count n: Int) {
        switch format {
        case .f32: (raw.assumingMemoryBound(to: Float.self) + offset).update(from: x, count: n)
        case .f16: ck_f32_to_f16(raw.assumingMemoryBound(to: UInt16.self) + offset, x, Int32(n))
        }
    }

    /// Copies elements `source..<source + n` to `destination` (the ranges may overlap).
    public func move(from source: Int, to destination: Int, count n: Int) {
        copy(from: source, of: self, to: destination, count: n)
    }

    /// Elements `destination..<destination + n` = `other`'s `source..<source + n`, in the same format
    /// (the same buffer with overlapping ranges included).
    public func copy(from source: Int, of other: KVBuffer, to destination: Int, count n: Int) {
        precondition(other.format == format && source >= 0 && destination >= 0 && n >= 0
                     && source + n <= other.count && destination + n <= count)
        let b = format.bytesPerElement
        (raw + destination * b).copyMemory(from: other.raw + source * b, byteCount: n * b)
    }

    /// Element `i` as a Float (tests and checks, not the per-token path).
    public subscript(i: Int) -> Float {
        switch format {
        case .f32: raw.assumingMemoryBound(to: Float.self)[i]
        case .f16: ck_fp16_to_fp32(raw.assumingMemoryBound(to: UInt16.self)[i])
        }
    }
}
