#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One tensor's descriptor, validated against the file: its bytes lie inside the data section.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ggml order: dims[0] is the row length (fastest-varying).
    public let dims: [Int]
    public let type: GGMLType
    /// Offset relative to the start of the data section.
    public let offset: Int
    public let byteCount: Int
    public var elementCount: Int { dims.reduce(1, *) }
    /// Row-major shape (slowest first), e.g. [n_vocab, n_embd] for token_embd.
    public var rowMajorShape: [Int] { dims.reversed() }
}

/// A parsed GGUF v2/v3 file. The bytes are memory-mapped (or owned, for in-memory buffers) and
/// never change after parsing, which is why sharing across threads is sound.
public final class GGUFFile: @unchecked Sendable {
    public let path: String?
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Keys in file order.
    public let keys: [String]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    public let dataOffset: Int
    public let fileSize: Int
    private let tensorIndex: [String: Int]
    private let base: UnsafeRawPointer
    private let release: @Sendable () -> Void

    /// Maps and parses the file at `path`.
    public convenience init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw GGUFError.cannotOpen(path: path, reason: "not a regular file") }
        let size = Int(st.st_size)
        guard size > 0 else {
            throw GGUFError.truncated(section: "header", offset: 0, needed: 24, available: 0)
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw GGUFError.cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        let addr = UInt(bitPattern: p)
        try self.init(base: UnsafeRawPointer(p), size: size, path: path) {
            _ = munmap(UnsafeMutableRawPointer(bitPattern: addr), size)
        }
    }

    /// Parses a GGUF image held in memory (tests, fixtures). The bytes are copied.
    public convenience init(bytes: [UInt8]) throws {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        let addr = UInt(bitPattern: p)
        try self.init(base: UnsafeRawPointer(p), size: bytes.count, path: nil) {
            UnsafeMutableRawPointer(bitPattern: addr)?.deallocate()
        }
    }

    private init(base: UnsafeRawPointer, size: Int, path: String?, release: @escaping @Sendable () -> Void) throws {
        self.base = base
        self.release = release
        self.path = path
        self.fileSize = size
        do {
            let parsed = try GGUFParser.parse(UnsafeRawBufferPointer(start: base, count: size))
            version = parsed.version
            metadata = parsed.metadata
            keys = parsed.keys
            tensors = parsed.tensors
            alignment = parsed.alignment
            dataOffset = parsed.dataOffset
            var index: [String: Int] = [:]
            for (i, t) in tensors.enumerated() { index[t.name] = i }
            tensorIndex = index
        } catch {
            release()
            throw error
        }
    }

    deinit { release() }

    public func tensor(named name: String) -> GGUFTensorInfo? { tensorIndex[name].map { tensors[$0] } }

    /// The raw bytes of a tensor (valid while this file is alive).
    public func bytes(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + dataOffset + tensor.offset, count: tensor.byteCount)
    }

    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }
}
