#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// 64-byte aligned, owned storage of `count` elements, zero-initialized. Allocated once (at load or
/// when a session is planned), never on the per-token path.
public final class AlignedBuffer<Element: BitwiseCopyable>: @unchecked Sendable {
    // Sendable: weights are written once at load and then only read; activation buffers belong to
    // one session, which belongs to one thread.
    public let count: Int
    public let pointer: UnsafeMutablePointer<Element>
    /// The huge-page region holding `pointer`, or nil for the ordinary heap.
    private let region: AnyObject?

    /// `streamed`: every forward reads the whole buffer (a packed weight), so where it is large enough
    /// it goes on huge pages (`HugePages`).
    public init(count: Int, streamed: Bool = false) {
        self.count = count
        let bytes = max(count * MemoryLayout<Element>.stride, 64)
        let raw: UnsafeMutableRawPointer
        if streamed && bytes >= HugePages.minimumBytes, let (p, owner) = HugePages.allocate(bytes: bytes) {
            raw = p  // fresh region memory is already zero
            region = owner
        } else {
            raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            memset(raw, 0, bytes)
            region = nil
        }
        pointer = raw.bindMemory(to: Element.self, capacity: max(count, 1))
    }

    deinit {
        if region == nil { UnsafeMutableRawPointer(pointer).deallocate() }
    }

    public var bytes: Int { count * MemoryLayout<Element>.stride }
    public var buffer: UnsafeMutableBufferPointer<Element> { UnsafeMutableBufferPointer(start: pointer, count: count) }
    public subscript(i: Int) -> Element {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
    public func toArray() -> [Element] { Array(buffer) }
}

public typealias FloatBuffer = AlignedBuffer<Float>
