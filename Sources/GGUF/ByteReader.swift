/// A bounds-checked little-endian cursor. Every read checks the remaining bytes first, so a hostile
/// file can only produce a `GGUFError`, never an out-of-bounds access.
struct ByteReader {
    let buffer: UnsafeRawBufferPointer
    private(set) var offset: Int = 0
    var section: String = "header"

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    var remaining: Int { buffer.count - offset }

    mutating func need(_ n: Int) throws {
        guard n >= 0, n <= remaining else {
            throw GGUFError.truncated(section: section, offset: offset, needed: n, available: remaining)
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try need(MemoryLayout<T>.size)
        let v = buffer.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    mutating func readFloat() throws -> Float { Float(bitPattern: try read(UInt32.self)) }
    mutating func readDouble() throws -> Double { Double(bitPattern: try read(UInt64.self)) }

    mutating func readBytes(_ n: Int) throws -> UnsafeRawBufferPointer {
        try need(n)
        let slice = UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + n)])
        offset += n
        return slice
    }

    /// u64 length + UTF-8 bytes (no terminator).
    mutating func readString(context: @autoclosure () -> String) throws -> String {
        let start = offset
        let len = try read(UInt64.self)
        guard len <= UInt64(remaining) else {
            throw GGUFError.truncated(section: section, offset: start, needed: Int(clamping: len), available: remaining)
        }
        let bytes = try readBytes(Int(len))
        guard let s = String(validating: bytes, as: UTF8.self) else {
            throw GGUFError.invalidUTF8(context: context(), offset: start + 8)
        }
        return s
    }

    mutating func align(to alignment: Int) {
        let r = offset % alignment
        if r != 0 { offset += alignment - r }
    }
}
